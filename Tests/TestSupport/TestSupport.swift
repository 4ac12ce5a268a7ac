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

/// Runs `executable` with `arguments` and waits for it; returns what it wrote (standard output
/// and error together) and its exit status.
public func runProgram(_ executable: URL, _ arguments: [String]) throws -> (output: String, status: Int32) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (output, process.terminationStatus)
}

/// A fresh folder under the system's temporary directory; the caller removes it.
public func makeScratchFolder(_ purpose: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("augerino-\(purpose)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

/// Fails (at the caller's line) unless the part of the repository's document `path` (relative
/// to the repository root, e.g. "docs/operations.md") between the lines `<!-- NAME: generated …`
/// and `<!-- end of NAME -->` is `generated`. With AUGERINO_UPDATE_GOLDEN=1 it rewrites that part.
public func assertGeneratedSection(_ name: String, of path: String, is generated: String, file: StaticString = #filePath, line: UInt = #line) throws {
    var root = URL(fileURLWithPath: "\(file)").deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path), root.path != "/" { root.deleteLastPathComponent() }
    let document = root.appendingPathComponent(path)
    let text = try String(contentsOf: document, encoding: .utf8)
    guard let begin = text.range(of: "<!-- \(name): generated"), let beginLine = text[begin.upperBound...].firstIndex(of: "\n"),
          let end = text.range(of: "\n<!-- end of \(name) -->", range: beginLine..<text.endIndex) else {
        return XCTFail("\(path) lacks the markers <!-- \(name): generated … --> and <!-- end of \(name) -->", file: file, line: line)
    }
    let shown = String(text[text.index(after: beginLine)..<end.lowerBound])
    if shown != generated, ProcessInfo.processInfo.environment["AUGERINO_UPDATE_GOLDEN"] == "1" {
        try (text[...beginLine] + generated + text[end.lowerBound...]).write(to: document, atomically: true, encoding: .utf8)
        return
    }
    XCTAssertEqual(shown, generated, "\(path)'s \(name) differs from the code's; AUGERINO_UPDATE_GOLDEN=1 rewrites it", file: file, line: line)
}
