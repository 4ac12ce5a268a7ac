import Foundation
import XCTest

// Helpers shared by every test target: comparisons that report the worst element at the
// caller's line, PyTorch's reference values, deterministic inputs, scratch folders.

/// Fails (at the caller's line) unless every |actual − expected| ≤ atol + rtol·|expected|;
/// the message names what was compared, the worst index and both values.
public func assertClose(_ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 1e-4, _ what: String,
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

/// Values PyTorch computed, from ../shared/data/torch-reference (see its README): "settings"
/// and "tensors" (name → shape and flat C-order values).
public struct TorchReference {
    public let settings: [String: Any]
    public let tensors: [String: (shape: [Int], values: [Float])]

    /// Loads `name`.json, or skips the calling test with a message when ../shared is absent.
    public static func load(_ name: String) throws -> TorchReference {
        let url = sharedData.appendingPathComponent("torch-reference/\(name).json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("needs the PyTorch reference values in \(url.path) (the project's ../shared/data); skipped")
        }
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for (key, value) in root["tensors"] as! [String: Any] {
            let entry = value as! [String: Any]
            tensors[key] = ((entry["shape"] as! [NSNumber]).map(\.intValue), (entry["data"] as! [NSNumber]).map(\.floatValue))
        }
        return TorchReference(settings: root["settings"] as? [String: Any] ?? [:], tensors: tensors)
    }

    public subscript(_ name: String) -> [Float] { tensors[name]!.values }
    public func shape(_ name: String) -> [Int] { tensors[name]!.shape }
}

/// ../shared/data beside the project (present on developers' machines and in CI).
public let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../../shared/data").standardized

/// SplitMix64: deterministic test inputs for tests below the NN layer.
public struct TestRandom {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    public mutating func symmetric() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
    public mutating func floats(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { _ in symmetric() * scale } }
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// A fresh folder under the system's temporary directory; the caller removes it.
public func makeScratchFolder(_ purpose: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("augerino-\(purpose)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}
