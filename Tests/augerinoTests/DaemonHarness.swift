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
    /// The daemon's inbox: its own, or the fleet's shared one.
    let inbox: URL
    /// The daemon's outbox: its own, or the fleet's shared one.
    let outbox: URL
    var state: URL { root.appendingPathComponent("state") }
    var config: URL { root.appendingPathComponent("daemon.conf") }
    var log: URL { root.appendingPathComponent("daemon.log") }
    private(set) var process: Process?
    var environment: [String: String] = [:]
    /// Run the daemon (and `command`s asked to) as this user instead of the test's own
    /// (`DaemonHarness.unprivilegedUser()`); the scratch folder is given to it at `start()`.
    var user: UnprivilegedUser?
    /// A command the daemon is started under (`ip netns exec NAME`), when not empty.
    var launcher: [String] = []

    /// A user without privileges (nobody) that processes can be started as with setpriv.
    struct UnprivilegedUser {
        let uid: UInt32, gid: UInt32
        /// The command line that runs `arguments` as this user.
        func wrap(_ executable: URL, _ arguments: [String]) -> (URL, [String]) {
            (URL(fileURLWithPath: "/usr/bin/setpriv"), ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", executable.path] + arguments)
        }
    }

    /// nobody, when this test runs as root, setpriv exists and nobody can run the binary; else
    /// the calling test is skipped with a sentence saying why.
    static func unprivilegedUser() throws -> UnprivilegedUser {
        guard getuid() == 0 else { throw XCTSkip("needs root to run the daemon as another user (nobody) with setpriv; skipped") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { throw XCTSkip("needs /usr/bin/setpriv (Debian package util-linux) to run the daemon as nobody; skipped") }
        guard let entry = getpwnam("nobody") else { throw XCTSkip("this machine has no user nobody; skipped") }
        let user = UnprivilegedUser(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
        var folder = binary.deletingLastPathComponent()
        while folder.path != "/" {
            var info = stat()
            guard stat(folder.path, &info) == 0, info.st_mode & 0o001 != 0 else {
                throw XCTSkip("\(folder.path) cannot be entered by other users, so nobody cannot run \(binary.path); skipped")
            }
            folder.deleteLastPathComponent()
        }
        return user
    }

    /// Gives the scratch folder, its inbox, outbox and state folders (and what is in the state
    /// folder), daemon.conf and daemon.log to `user`. Files dropped into the inbox stay the
    /// test's: another user's files, as under the shipped unit.
    func handOver(to user: UnprivilegedUser) {
        for item in [root, inbox, outbox, state, config, log] { lchown(item.path, user.uid, user.gid) }
        let items = FileManager.default.enumerator(atPath: state.path)
        while let item = items?.nextObject() as? String { lchown(state.appendingPathComponent(item).path, user.uid, user.gid) }
    }

    /// The augerino binary `swift test` built next to the test bundle.
    static var binary: URL {
        // On Linux the test bundle is an executable (…/debug/augerinoPackageTests.xctest) run directly.
        let candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()] +
            Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
        let found = candidates.map { $0.appendingPathComponent("augerino") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
        return found ?? candidates[0].appendingPathComponent("augerino")
    }

    /// - Parameters:
    ///   - extraConfiguration: `[daemon]` lines; a key set here replaces the harness's own.
    ///   - fleet: a folder several daemons ("hosts") share: the outbox and `shared_state` are
    ///     there (`fleet/outbox`, `fleet/state`); the state folder stays the daemon's own, and
    ///     so does the inbox unless `sharedInbox` (then `fleet/inbox`).
    init(_ purpose: String, extraConfiguration: String = "", fleet: URL? = nil, sharedInbox: Bool = false) throws {
        root = try makeScratchFolder("daemon-\(purpose)")
        outbox = fleet?.appendingPathComponent("outbox") ?? root.appendingPathComponent("outbox")
        inbox = fleet.flatMap { sharedInbox ? $0.appendingPathComponent("inbox") : nil } ?? root.appendingPathComponent("inbox")
        for folder in [inbox, outbox] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let extra = extraConfiguration.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let overridden = Set(extra.compactMap { $0.split(separator: "=").first?.trimmingCharacters(in: .whitespaces) })
        let defaults = ["threads = 1", "rescan_interval = 0.5", "settle_time = 0", "retry_backoff = 0.2", "retry_backoff_max = 1", "shutdown_timeout = 5"]
            .filter { !overridden.contains(String($0.split(separator: " ")[0])) }
        let folders = fleet.map { ["outbox = \($0.path)/outbox", "shared_state = \($0.path)/state"] } ?? ["outbox = outbox"]
        try (["inbox = \(inbox.path)", "state = state"] + folders + ["[daemon]"] + defaults + extra + ["[training]", "probe_images = 4"])
            .joined(separator: "\n").write(to: config, atomically: false, encoding: .utf8)
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
        if let user {
            handOver(to: user)
            (process.executableURL, process.arguments) = user.wrap(Self.binary, process.arguments!)
        }
        if let program = launcher.first {
            process.arguments = Array(launcher.dropFirst()) + [process.executableURL!.path] + process.arguments!
            process.executableURL = URL(fileURLWithPath: program)
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        self.process = process
    }

    /// Waits until the daemon has started its services (it logs its start line just before).
    func waitUntilReady(file: StaticString = #filePath, line: UInt = #line) {
        waitUntil("the daemon is ready", timeout: 30, file: file, line: line) { logText.contains(" worker(s) of ") }
        usleep(300_000)
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

    /// Holds the daemon still (SIGSTOP) or lets it go on (SIGCONT), as a host that is slow to wake.
    func pause() { if let process { kill(process.processIdentifier, SIGSTOP) } }
    func resume() { if let process { kill(process.processIdentifier, SIGCONT) } }

    /// Runs another augerino command on the same configuration; returns its output and status.
    func command(_ arguments: [String], withConfig: Bool = true, as commandUser: UnprivilegedUser? = nil) throws -> (output: String, status: Int32) {
        var (executable, full) = (Self.binary, arguments + (withConfig ? ["--config", config.path] : []))
        if let commandUser { (executable, full) = commandUser.wrap(Self.binary, full) }
        return try runProgram(executable, full)
    }

    /// Drops a bundle the way uploaders should: written under a .part name, then renamed in.
    func drop(_ bundle: Data, as name: String) throws {
        let partial = inbox.appendingPathComponent(name + ".part")
        try bundle.write(to: partial)
        try FileManager.default.moveItem(at: partial, to: inbox.appendingPathComponent(name))
    }

    /// The queue, opened for reading only like `augerino jobs` does.
    func queue() throws -> SQLiteJobQueue { try SQLiteJobQueue.openReadOnly(path: state.appendingPathComponent("queue.sqlite").path) }

    /// The jobs; read by `augerino jobs --json` as the daemon's user when it has one, so that
    /// no file the test's user creates beside the queue is in that user's way.
    func jobs() throws -> [Job] {
        guard FileManager.default.fileExists(atPath: state.appendingPathComponent("queue.sqlite").path) else { return [] }
        guard let user else { return try queue().jobs(state: nil) }
        let listing = try command(["jobs", "--json"], as: user)
        guard listing.status == 0 else { throw NSError(domain: "augerino jobs", code: Int(listing.status), userInfo: [NSLocalizedDescriptionKey: listing.output]) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode([Job].self, from: Data(listing.output.utf8))
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
