import Foundation
import Pipeline
import XCTest

/// The daemon when storage fails under it: a full disk and a read-only state folder, made
/// real with a small tmpfs mounted over the state folder (needs root, or CAP_SYS_ADMIN; the
/// tests skip with a message elsewhere).
final class DaemonStorageTests: XCTestCase {
    func run(_ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/" + arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Mounts a tmpfs of `size` over one of the harness's folders (its state folder unless
    /// told otherwise), or skips.
    func mountTmpfs(_ daemon: DaemonHarness, size: String, over folder: URL? = nil, for purpose: String = "a full or read-only state folder") throws {
        let target = folder ?? daemon.state
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        guard run(["mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", target.path]) == 0 else {
            throw XCTSkip("needs to mount a tmpfs (root or CAP_SYS_ADMIN) to make \(purpose); skipped")
        }
        // The harness cannot remove its folder while the tmpfs is mounted in it: remove it here.
        let root = daemon.root
        addTeardownBlock { [self] in
            _ = run(["umount", "-l", target.path])
            try? FileManager.default.removeItem(at: root)
        }
    }

    /// Writes zeros into `folder` until the file system is full; returns the filler file.
    func fill(_ folder: URL) -> URL {
        let filler = folder.appendingPathComponent("filler")
        FileManager.default.createFile(atPath: filler.path, contents: nil)
        let fd = open(filler.path, O_WRONLY)
        let chunk = [UInt8](repeating: 0, count: 16 << 10)
        while write(fd, chunk, chunk.count) > 0 {}
        close(fd)
        return filler
    }

    func test_fullDisk_errorIsRecorded_daemonStaysUp_nothingLost_andWorkResumesWithTheSameWeights() throws {
        let daemon = try DaemonHarness("full")
        try mountTmpfs(daemon, size: "6m")
        try daemon.start()
        // Ready, not just a queue file: filling the disk while the first migration commits
        // leaves the daemon retrying its start ("database or disk is full") instead.
        daemon.waitUntilReady()

        // 1. Full before the bundle arrives: it stays in the inbox until there is room.
        var filler = fill(daemon.state)
        try daemon.drop(TinyBundle.make(seed: 11, epochs: 1), as: "early.tar.gz")
        daemon.waitUntil("the daemon says the disk is full") { daemon.logText.contains("No space left on device") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.inbox.appendingPathComponent("early.tar.gz").path), "the bundle waits in the inbox")
        XCTAssertTrue(daemon.isRunning)
        try FileManager.default.removeItem(at: filler)
        daemon.waitUntil("the early bundle is done once there is room") { try daemon.jobs().first?.state == .done }

        // 2. Full during training: checkpoints fail, the job waits, then resumes to the same weights.
        let bundle = try TinyBundle.make(seed: 12, epochs: 300)
        try daemon.drop(bundle, as: "late.tar.gz")
        daemon.waitUntil("the second job trains") { (try daemon.jobs().last?.progress?.epoch ?? 0) >= 2 }
        let before = daemon.logText.count
        filler = fill(daemon.state)
        daemon.waitUntil("the full disk is reported") { daemon.logText.dropFirst(before).contains("No space left on device") }
        XCTAssertTrue(daemon.isRunning)
        XCTAssertNotEqual(try daemon.jobs().last?.state, .failed, "a full disk is not the bundle's fault")
        try FileManager.default.removeItem(at: filler)
        daemon.waitUntil("the second job is done", timeout: 120) { try daemon.jobs().last?.state == .done }
        daemon.stop()

        let reference = try DaemonHarness("full-reference")
        try reference.start()
        try reference.drop(bundle, as: "late.tar.gz")
        reference.waitUntil("the reference run finishes") { try reference.jobs().first?.state == .done }
        XCTAssertEqual(try daemon.modelTensors("late"), try reference.modelTensors("late"), "the same weights as a run with room all along")
        reference.stop()
    }

    func test_readOnlyState_errorIsLogged_daemonStaysUp_andStartsOnceWritable() throws {
        let daemon = try DaemonHarness("readonly")
        try mountTmpfs(daemon, size: "16m")
        guard run(["mount", "-o", "remount,ro", daemon.state.path]) == 0 else { throw XCTSkip("cannot remount the tmpfs read-only; skipped") }
        try daemon.drop(TinyBundle.make(seed: 13, epochs: 1), as: "ro.tar.gz")
        try daemon.start()
        daemon.waitUntil("the daemon reports the read-only folder") { daemon.logText.contains("Read-only file system") }
        usleep(300_000)
        XCTAssertTrue(daemon.isRunning, "the daemon stays up")
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.inbox.appendingPathComponent("ro.tar.gz").path), "nothing lost")
        XCTAssertEqual(run(["mount", "-o", "remount,rw", daemon.state.path]), 0)
        daemon.waitUntil("the bundle is done once the folder is writable", timeout: 60) { try daemon.jobs().first?.state == .done }
        let (exit, _) = daemon.stop()
        XCTAssertEqual(exit, 0)
    }

    func test_publishFailingForAReadOnlyOutbox_isRetriedWithoutTrainingAgain() throws {
        let daemon = try DaemonHarness("publish-retry", extraConfiguration: "retry_backoff = 1")
        try mountTmpfs(daemon, size: "16m", over: daemon.outbox, for: "a read-only outbox")
        try daemon.start()
        daemon.waitUntilReady()
        guard run(["mount", "-o", "remount,ro", daemon.outbox.path]) == 0 else { throw XCTSkip("cannot remount the tmpfs read-only; skipped") }
        try daemon.drop(TinyBundle.make(seed: 15, epochs: 2), as: "late.tar.gz")
        daemon.waitUntil("publishing fails on the read-only outbox") { daemon.logText.contains("publish failed") }
        XCTAssertNotEqual(try daemon.jobs().first?.state, .failed, "a read-only outbox is not the bundle's fault")
        XCTAssertEqual(run(["mount", "-o", "remount,rw", daemon.outbox.path]), 0)
        daemon.waitUntil("the job is done once the outbox is writable") { try daemon.jobs().first?.state == .done }
        daemon.stop()
        XCTAssertTrue(daemon.logText.contains("job 1: its result was finished before publishing it failed; publishing it without training again"), daemon.logText)
        XCTAssertFalse(daemon.logText.contains("resuming after epoch"), "the retry neither trains nor evaluates again: \(daemon.logText)")
        XCTAssertEqual(try daemon.modelTensors("late").isEmpty, false)
        let finished = daemon.state.appendingPathComponent("finished")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: finished.path), [], "the kept result goes once published")
    }

    func test_sigtermWhileWaitingForStorage_exitsZero() throws {
        let daemon = try DaemonHarness("readonly-stop")
        try mountTmpfs(daemon, size: "1m")
        guard run(["mount", "-o", "remount,ro", daemon.state.path]) == 0 else { throw XCTSkip("cannot remount the tmpfs read-only; skipped") }
        try daemon.start()
        daemon.waitUntil("the daemon reports the read-only folder") { daemon.logText.contains("Read-only file system") }
        let (exit, seconds) = daemon.stop()
        XCTAssertEqual(exit, 0)
        XCTAssertLessThan(seconds, 10)
    }

    func test_statusAndJobs_onAReadOnlyStateFolder_readTheQueue() throws {
        let daemon = try DaemonHarness("readonly-commands")
        try mountTmpfs(daemon, size: "16m")
        try daemon.start()
        try daemon.drop(TinyBundle.make(seed: 14, epochs: 1), as: "ro.tar.gz")
        daemon.waitUntil("the bundle is done") { try daemon.jobs().first?.state == .done }
        daemon.stop()
        guard run(["mount", "-o", "remount,ro", daemon.state.path]) == 0 else { throw XCTSkip("cannot remount the tmpfs read-only; skipped") }
        let status = try daemon.command(["status"])
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("daemon: not running") && status.output.contains("1 done"), status.output)
        let listing = try daemon.command(["jobs"])
        XCTAssertEqual(listing.status, 0, listing.output)
        XCTAssertTrue(listing.output.contains("outbox/ro"), listing.output)
        let json = try daemon.command(["jobs", "--json"])
        XCTAssertTrue(json.output.contains("\"state\" : \"done\""), json.output)
    }
}
