import Bundle
import Foundation
import NN
import Pipeline
import TestSupport
import XCTest

/// A real daemon in a real process, on a scratch folder with its own inbox, outbox, state and
/// daemon.conf; the tests drop real bundles and read the real outbox and SQLite file.
final class DaemonHarness {
    let root: URL
    var inbox: URL { root.appendingPathComponent("inbox") }
    var outbox: URL { root.appendingPathComponent("outbox") }
    var state: URL { root.appendingPathComponent("state") }
    var config: URL { root.appendingPathComponent("daemon.conf") }
    var log: URL { root.appendingPathComponent("daemon.log") }
    private(set) var process: Process?
    var environment: [String: String] = [:]

    /// The augerino binary `swift test` built next to the test bundle.
    static var binary: URL {
        // On Linux the test bundle is an executable (…/debug/augerinoPackageTests.xctest) run directly.
        let candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()] +
            Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
        let found = candidates.map { $0.appendingPathComponent("augerino") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
        return found ?? candidates[0].appendingPathComponent("augerino")
    }

    init(_ purpose: String, extraConfiguration: String = "") throws {
        root = try makeScratchFolder("daemon-\(purpose)")
        for folder in [inbox, outbox] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        try """
            inbox = inbox
            outbox = outbox
            state = state
            [daemon]
            threads = 1
            rescan_interval = 0.5
            settle_time = 0
            retry_backoff = 0.2
            retry_backoff_max = 1
            shutdown_timeout = 5
            \(extraConfiguration)
            [training]
            probe_images = 4
            """.write(to: config, atomically: true, encoding: .utf8)
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: root)
    }

    /// Starts the daemon; its standard error is appended to daemon.log.
    func start() throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["daemon", "--config", config.path]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        self.process = process
    }

    /// Sends `signal` and waits for the exit; returns (exit status, seconds it took).
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, timeout: Double = 15) -> (status: Int32, seconds: Double) {
        guard let process else { return (-1, 0) }
        let start = Date()
        kill(process.processIdentifier, signal)
        while process.isRunning && Date().timeIntervalSince(start) < timeout { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
        return (process.terminationStatus, Date().timeIntervalSince(start))
    }

    var isRunning: Bool { process?.isRunning ?? false }

    /// Runs another augerino command on the same configuration; returns its output and status.
    func command(_ arguments: [String], withConfig: Bool = true) throws -> (output: String, status: Int32) {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments + (withConfig ? ["--config", config.path] : [])
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (output, process.terminationStatus)
    }

    /// Drops a bundle the way uploaders should: written under a .part name, then renamed in.
    func drop(_ bundle: Data, as name: String) throws {
        let partial = inbox.appendingPathComponent(name + ".part")
        try bundle.write(to: partial)
        try FileManager.default.moveItem(at: partial, to: inbox.appendingPathComponent(name))
    }

    /// The queue, opened read-write like `augerino jobs` does.
    func queue() throws -> SQLiteJobQueue { try SQLiteJobQueue(path: state.appendingPathComponent("queue.sqlite").path) }

    func jobs() throws -> [Job] {
        guard FileManager.default.fileExists(atPath: state.appendingPathComponent("queue.sqlite").path) else { return [] }
        return try queue().jobs(state: nil)
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes; fails with the log.
    func waitUntil(_ what: String, timeout: Double = 60, file: StaticString = #filePath, line: UInt = #line,
                   _ condition: () throws -> Bool) {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            if (try? condition()) == true { return }
            usleep(50_000)
        }
        XCTFail("timed out after \(timeout) s waiting until \(what); daemon log:\n\(logText.suffix(4000))", file: file, line: line)
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// The tensors of a published model, by name.
    func modelTensors(_ name: String) throws -> [String: [Float]] {
        let file = try SafeTensors.read(from: outbox.appendingPathComponent(name).appendingPathComponent("model.safetensors"))
        return Dictionary(uniqueKeysWithValues: file.entries.map { ($0.name, $0.values) })
    }
}

/// Small bundles made in memory: two classes of 8x8 images (bright left half or right half)
/// for an MLP, so a debug build trains an epoch in a blink.
enum TinyBundle {
    /// - Parameters:
    ///   - divergent: regression targets of 1e30, whose squared error overflows: training
    ///     always fails.
    static func make(seed: UInt64, epochs: Int, count: Int = 64, divergent: Bool = false) throws -> Data {
        let folder = try makeScratchFolder("bundle")
        defer { try? FileManager.default.removeItem(at: folder) }
        var random = RandomGenerator(seed: seed)
        var images: [Float] = [], labels: [Float] = []
        for i in 0..<count {
            let label = i % 2
            for _ in 0..<8 { for x in 0..<8 { images.append(((x < 4) == (label == 0) ? 200 : 20) + Float(Int(random.nextFloat() * 30))) } }
            labels.append(divergent ? 1e30 : Float(label))
        }
        try IDXArray.encodeBytes(shape: [count, 8, 8], values: images).write(to: folder.appendingPathComponent("train-images.idx"))
        if divergent {
            try IDXArray.encodeFloats(shape: [count], values: labels).write(to: folder.appendingPathComponent("train-targets.idx"))
        } else {
            try IDXArray.encodeBytes(shape: [count], values: labels).write(to: folder.appendingPathComponent("train-labels.idx"))
        }
        let manifest: [String: Any] = [
            "format": 1, "name": "tiny-\(seed)", "task": divergent ? "regression" : "classification",
            "splits": ["train": ["inputs": "train-images.idx", "targets": divergent ? "train-targets.idx" : "train-labels.idx"]],
            "model": ["architecture": "mlp", "width": 8],
            "training": ["epochs": epochs, "batch_size": 8, "seed": seed],
        ].merging(divergent ? [:] : ["classes": ["left", "right"]]) { $1 }
        try JSONSerialization.data(withJSONObject: manifest, options: .sortedKeys).write(to: folder.appendingPathComponent("manifest.json"))
        let packed = folder.deletingLastPathComponent().appendingPathComponent("\(folder.lastPathComponent).tar.gz")
        defer { try? FileManager.default.removeItem(at: packed) }
        try BundleArchive.pack(folder, to: packed)
        return try Data(contentsOf: packed)
    }
}
