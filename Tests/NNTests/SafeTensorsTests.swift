import Foundation
import TestSupport
import XCTest
@testable import NN

final class SafeTensorsTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try makeScratchFolder("safetensors")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    let sample = SafeTensors(entries: [SafeTensors.Entry(name: "0.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6.5]),
                                       SafeTensors.Entry(name: "scalar", shape: [], values: [-7]),
                                       SafeTensors.Entry(name: "empty", shape: [0, 4], values: [])],
                             metadata: ["architecture": "smallnet", "classes": "[\"a\",\"b\"]"])

    func test_roundTrip_throughAFile() throws {
        let url = folder.appendingPathComponent("model.safetensors")
        try sample.write(to: url)
        XCTAssertEqual(try SafeTensors.read(from: url), sample)
        let bytes = try Data(contentsOf: url)
        XCTAssertEqual(bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) } % 8, 0, "header padded to 8 bytes")
    }

    /// A file with a hand-written header and `dataBytes` bytes of data.
    func file(header: String, dataBytes: Int = 0, headerLength: UInt64? = nil) -> Data {
        var data = Data()
        withUnsafeBytes(of: (headerLength ?? UInt64(header.utf8.count)).littleEndian) { data.append(contentsOf: $0) }
        data.append(header.data(using: .utf8)!)
        data.append(Data(repeating: 0, count: dataBytes))
        return data
    }

    func test_read_rejectsEveryBrokenRule_namingIt() {
        let cases: [(Data, String)] = [
            (Data([1, 2, 3]), "fewer than the 8-byte header length"),
            (file(header: "{}", headerLength: 200 << 20), "exceeds the"),
            (file(header: "{}", headerLength: 99), "runs past the end"),
            (file(header: "[1, 2]"), "not a JSON object"),
            (file(header: #"{"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}"#, dataBytes: 2), "dtype F16; only F32"),
            (file(header: #"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, dataBytes: 8), "needs 12 bytes but its data_offsets span 8"),
            (file(header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 40]}}"#, dataBytes: 4), "outside the 4-byte data section"),
            (file(header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, dataBytes: 8), "overlaps"),
            (file(header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, dataBytes: 8), "gap of 4 bytes"),
            (file(header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, dataBytes: 12), "8 bytes that belong to no tensor"),
            (file(header: #"{"a": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}}"#, dataBytes: 4), "not a list of non-negative integers"),
            (file(header: #"{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, dataBytes: 4), "not a list of non-negative integers"),
            (file(header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}"#, dataBytes: 4), "unknown field \"x\""),
            (file(header: #"{"__metadata__": {"k": 3}}"#), "value of \"k\" is not a string"),
        ]
        for (data, rule) in cases {
            XCTAssertThrowsError(try SafeTensors.decode(data, file: "bad.safetensors"), rule) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.hasPrefix("bad.safetensors: not a valid safetensors file") && text.contains(rule), "expected «\(rule)», got «\(text)»")
            }
        }
    }

    func test_read_whenFileIsMissing_saysSo() {
        XCTAssertThrowsError(try SafeTensors.read(from: folder.appendingPathComponent("absent.safetensors"))) {
            XCTAssertTrue(String(describing: $0).contains("absent.safetensors: cannot read"), String(describing: $0))
        }
    }

    /// Python's `safetensors` package reads our files and writes files we read.
    func test_interoperatesWithPythonSafetensors() throws {
        guard pythonHasSafetensors() else {
            throw XCTSkip("needs python3 with numpy and safetensors on PATH (.ci/run makes a virtual environment with both); skipped")
        }
        let ours = folder.appendingPathComponent("ours.safetensors"), theirs = folder.appendingPathComponent("theirs.safetensors")
        try sample.write(to: ours)
        let script = """
            import json, sys, numpy as np
            from safetensors.numpy import load_file, save_file
            from safetensors import safe_open
            t = load_file(sys.argv[1])
            with safe_open(sys.argv[1], "np") as f: meta = f.metadata()
            assert t["0.weight"].tolist() == [[1, 2, 3], [4, 5, 6.5]], t["0.weight"]
            assert t["scalar"].shape == () and float(t["scalar"]) == -7 and t["empty"].shape == (0, 4)
            assert meta == {"architecture": "smallnet", "classes": '["a","b"]'}, meta
            save_file({"w": np.arange(6, dtype=np.float32).reshape(3, 2), "b": np.array([0.5], dtype=np.float32)}, sys.argv[2], metadata={"from": "python"})
            """
        let status = try runPython(script, arguments: [ours.path, theirs.path])
        XCTAssertEqual(status, 0, "python could not read our file or write its own")
        let read = try SafeTensors.read(from: theirs)
        XCTAssertEqual(read.byName["w"]?.shape, [3, 2])
        XCTAssertEqual(read.byName["w"]?.values, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(read.byName["b"]?.values, [0.5])
        XCTAssertEqual(read.metadata, ["from": "python"])
    }

    /// Whether `python3` on PATH has numpy and safetensors. Tests install nothing: `.ci/run`
    /// puts a virtual environment with both first on PATH.
    private func pythonHasSafetensors() -> Bool {
        (try? runPython("import numpy, safetensors", arguments: [])) == 0
    }

    private func runPython(_ script: String, arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
