import Foundation
import XCTest
@testable import Kernels

/// SplitMix64: deterministic test inputs.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func symmetric() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
    mutating func floats(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { _ in symmetric() * scale } }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Fails (at the caller's line) unless every |actual − expected| ≤ atol + rtol·|expected|;
/// the message names what was compared, the worst index and both values.
func assertClose(_ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 1e-4, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst = -1, worstExcess: Float = 0
    for i in actual.indices {
        let excess = abs(actual[i] - expected[i]) - (atol + rtol * abs(expected[i]))
        if !(excess <= 0), worst < 0 || !(excess <= worstExcess) { worst = i; worstExcess = excess }
    }
    if worst >= 0 {
        XCTFail("\(what): [\(worst)] is \(actual[worst]), expected \(expected[worst]) (largest excess over tolerance \(worstExcess))",
                file: file, line: line)
    }
}

/// Central finite differences of `loss` at the given indices of `x`, in Double.
func numericGradient(_ x: [Float], indices: [Int], step: Float = 1e-2, _ loss: ([Float]) -> Double) -> [Float] {
    indices.map { i in
        var plus = x, minus = x
        plus[i] += step
        minus[i] -= step
        return Float((loss(plus) - loss(minus)) / (Double(plus[i]) - Double(minus[i])))
    }
}

/// Up to `limit` indices spread over 0..<count.
func sampleIndices(_ count: Int, limit: Int = 48) -> [Int] {
    count <= limit ? Array(0..<count) : (0..<limit).map { $0 * count / limit }
}

/// L = Σ out·g in Double: the scalar whose gradient the backward passes compute.
func weightedSum(_ out: [Float], _ g: [Float]) -> Double {
    zip(out, g).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

/// Values PyTorch computed, from ../shared/data/torch-reference (see its README).
struct TorchReference {
    let settings: [String: Any]
    let tensors: [String: (shape: [Int], data: [Float])]

    static var folder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data/torch-reference").standardized
    }

    /// Loads `name`.json, or skips the test with a message when ../shared is absent.
    static func load(_ name: String) throws -> TorchReference {
        let url = folder.appendingPathComponent(name + ".json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("needs the PyTorch reference values in \(url.path) (the project's ../shared/data); skipped")
        }
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var tensors: [String: (shape: [Int], data: [Float])] = [:]
        for (key, value) in root["tensors"] as! [String: Any] {
            let entry = value as! [String: Any]
            tensors[key] = ((entry["shape"] as! [NSNumber]).map(\.intValue), (entry["data"] as! [NSNumber]).map(\.floatValue))
        }
        return TorchReference(settings: root["settings"] as? [String: Any] ?? [:], tensors: tensors)
    }

    subscript(_ name: String) -> [Float] { tensors[name]!.data }
    func shape(_ name: String) -> [Int] { tensors[name]!.shape }
}

/// Shorthand for calling pointer-based kernels on arrays.
extension Array where Element == Float {
    func withPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body($0.baseAddress!) }
    }
    mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }
}
