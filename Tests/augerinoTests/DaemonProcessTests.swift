import Bundle
import Foundation
import Invariance
import Pipeline
import XCTest

/// The daemon as users run it: a real process, real inotify, a real SQLite file, real signals.
/// Networks are tiny MLPs on 8x8 images, so a debug build trains an epoch in a fraction of a second.
final class DaemonProcessTests: XCTestCase {
    /// A unix datagram socket standing in for systemd's $NOTIFY_SOCKET, read continuously on a
    /// thread of its own as systemd would.
    final class NotifyListener: @unchecked Sendable {
        let path: String
        let fd: Int32
        private let lock = NSLock()
        private var received: [String] = []
        private var closed = false

        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, byte) in path.utf8.enumerated() { raw[i] = byte } }
            let status = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            guard status == 0 else { throw XCTSkip("cannot bind a unix socket at \(path)") }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !lock.withLock({ closed }) {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n > 0 { lock.withLock { received.append(String(decoding: buffer[0..<n], as: UTF8.self)) } }
                }
            }.start()
        }

        deinit { unlink(path) }

        /// Stops reading; returns every message received.
        func finish() -> [String] {
            lock.withLock { closed = true }
            usleep(200_000)
            close(fd)
            return lock.withLock { received }
        }
    }

    func test_droppedBundle_becomesACompleteResult_andSystemdHearsEachStage() throws {
        let daemon = try DaemonHarness("complete")
        let listener = try NotifyListener()
        daemon.environment["NOTIFY_SOCKET"] = listener.path
        daemon.environment["WATCHDOG_USEC"] = "100000"  // WatchdogSec=0.1: a ping every 50 ms of progress
        try daemon.start()
        try daemon.drop(TinyBundle.make(seed: 1, epochs: 2), as: "tiny.tar.gz")
        let result = daemon.outbox.appendingPathComponent("tiny")
        daemon.waitUntil("outbox/tiny appears") { FileManager.default.fileExists(atPath: result.path) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: result.path).sorted(),
                       ["job.json", "manifest.json", "model.safetensors", "report.html", "report.json", "report.md"])
        let model = try ModelFile.read(from: result.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(model.classes ?? [], ["left", "right"])
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: result.appendingPathComponent("report.json"))) as! [String: Any]
        XCTAssertEqual((report["history"] as? [Any])?.count, 2, "two epochs recorded")
        // The worker publishes the result and then records the job done (a crash between the two
        // finds the result published and records it): wait for the record.
        daemon.waitUntil("the job is recorded done", timeout: 10) { (try? daemon.jobs().first?.state) == .done }
        let job = try XCTUnwrap(try daemon.jobs().first)
        XCTAssertEqual(job.state, .done)
        XCTAssertEqual(job.resultName, "tiny")
        XCTAssertEqual(job.sha256.count, 64)
        // The worker records "done" and then removes the copy: wait for it.
        daemon.waitUntil("the spool copy goes once the job is done", timeout: 10) { !FileManager.default.fileExists(atPath: job.bundlePath) }

        // The result is usable at once: predict reads PNG and NPY inputs (and IDX).
        let left = (0..<64).map { UInt8($0 % 8 < 4 ? 210 : 25) }, right = (0..<64).map { UInt8($0 % 8 < 4 ? 25 : 210) }
        try PNG.encode(width: 8, height: 8, channels: 1, pixels: left).write(to: daemon.root.appendingPathComponent("left.png"))
        try NPY.encode(shape: [2, 8, 8], values: (right + left).map(Float.init)).write(to: daemon.root.appendingPathComponent("pair.npy"))
        let predicted = try daemon.command(["predict", result.appendingPathComponent("model.safetensors").path,
                                            daemon.root.appendingPathComponent("left.png").path, daemon.root.appendingPathComponent("pair.npy").path,
                                            "--top", "1"], withConfig: false)
        XCTAssertEqual(predicted.status, 0, predicted.output)
        let lines = predicted.output.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, predicted.output)
        XCTAssertTrue(lines.count == 3 && lines[0].contains("left.png: left") && lines[1].contains("pair.npy[0]: right") && lines[2].contains("pair.npy[1]: left"),
                      predicted.output)

        let status = try daemon.command(["status"])
        XCTAssertTrue(status.output.contains("daemon: running, pid"), status.output)
        XCTAssertTrue(status.output.contains("0 queued, 0 running, 1 done, 0 failed, 0 cancelled"), status.output)
        let listing = try daemon.command(["jobs", "--json"])
        XCTAssertTrue(listing.output.contains("\"result_name\" : \"tiny\""), listing.output)

        let (exit, seconds) = daemon.stop(SIGTERM)
        XCTAssertEqual(exit, 0)
        XCTAssertLessThan(seconds, 10)
        let messages = listener.finish().joined(separator: "\n")
        XCTAssertTrue(messages.contains("READY=1"), messages)
        XCTAssertTrue(messages.contains("STATUS=job 1 (tiny): epoch"), messages)
        XCTAssertTrue(messages.contains("STOPPING=1"), messages)
        XCTAssertTrue(messages.contains("WATCHDOG=1"), messages)
        XCTAssertTrue(try daemon.command(["status"]).output.contains("daemon: not running"))
    }

    func test_fiftyBundlesAtOnce_someInvalid_twoWorkers_everyValidOneDone_everyInvalidOneExplained() throws {
        let daemon = try DaemonHarness("fifty", extraConfiguration: "workers = 2")
        try daemon.start()
        var valid: [String] = [], invalid: [String] = []
        for i in 0..<50 {
            let name = "b\(i)"
            switch i % 5 {
            case 0 where i % 10 == 0:
                try daemon.drop(Data("not a bundle \(i)".utf8), as: name + ".tar.gz")
                invalid.append(name)
            case 4 where i % 10 == 4:
                var bytes = try TinyBundle.make(seed: UInt64(i), epochs: 1)
                bytes[bytes.count - 5] ^= 0xFF  // corrupt the gzip trailer (CRC)
                try daemon.drop(bytes, as: name + ".tar.gz")
                invalid.append(name)
            default:
                try daemon.drop(TinyBundle.make(seed: UInt64(i), epochs: 1, count: 16), as: name + ".tar.gz")
                valid.append(name)
            }
        }
        daemon.waitUntil("50 jobs finish", timeout: 240) {
            let jobs = try daemon.jobs()
            return jobs.count == 50 && jobs.allSatisfy { $0.state == .done || $0.state == .failed }
        }
        XCTAssertTrue(daemon.isRunning, "the daemon is alive")
        for name in valid {
            XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.outbox.appendingPathComponent("\(name)/model.safetensors").path), name)
        }
        for name in invalid {
            let error = daemon.outbox.appendingPathComponent("\(name)/error.json")
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: error)) as! [String: Any]
            XCTAssertEqual(object["bundle"] as? String, "\(name).tar.gz")
            XCTAssertTrue((object["error"] as! String).hasPrefix("\(name).tar.gz: "), "the error names the bundle: \(object)")
            XCTAssertNotNil(object["hint"])
            // The hint travels as the error's own property from the job's child, and is the
            // one the sentence ends with.
            if let message = object["error"] as? String, let range = message.range(of: "; hint: ") {
                XCTAssertEqual(object["hint"] as? String, String(message[range.upperBound...]), "\(object)")
            }
        }
        XCTAssertEqual(try daemon.jobs().filter { $0.state == .failed }.count, invalid.count)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.outbox.path).sorted(), (valid + invalid).sorted(),
                       "one entry per bundle: no job ran twice")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.state.appendingPathComponent("quarantine").path).count, invalid.count,
                       "every invalid bundle is kept in quarantine")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.inbox.path), [], "everything was taken")
        daemon.stop()
    }

    /// The weights of an uninterrupted run of `bundle`, trained by a daemon of its own.
    func uninterruptedModel(_ bundle: Data) throws -> [String: [Float]] {
        let daemon = try DaemonHarness("reference")
        try daemon.start()
        try daemon.drop(bundle, as: "r.tar.gz")
        daemon.waitUntil("the reference run finishes", timeout: 120) { try daemon.jobs().first?.state == .done }
        daemon.stop()
        return try daemon.modelTensors("r")
    }

    func test_killDashNineAtRandomPoints_thenRestart_givesBitwiseTheUninterruptedWeights() throws {
        let bundle = try TinyBundle.make(seed: 7, epochs: 150)
        let reference = try uninterruptedModel(bundle)
        let daemon = try DaemonHarness("kill9")
        try daemon.start()
        try daemon.drop(bundle, as: "r.tar.gz")
        var kills = 0, lastEpoch = 0
        var random = SystemRandomNumberGenerator()
        while kills < 6 {
            // Kill at a random moment inside training, each time a little further on.
            daemon.waitUntil("training progresses past epoch \(lastEpoch)") {
                let job = try daemon.jobs().first
                return job?.state == .done || (job?.state == .running && (job?.progress?.epoch ?? 0) > lastEpoch)
            }
            guard let job = try daemon.jobs().first, job.state != .done else { break }
            lastEpoch = job.progress?.epoch ?? lastEpoch
            usleep(UInt32.random(in: 0...120_000, using: &random))
            daemon.stop(SIGKILL)
            kills += 1
            try daemon.start()
        }
        daemon.waitUntil("the job finishes after \(kills) kills", timeout: 120) { try daemon.jobs().first?.state == .done }
        XCTAssertGreaterThanOrEqual(kills, 3, "the kills landed during training")
        XCTAssertGreaterThanOrEqual(daemon.logText.components(separatedBy: "resuming after epoch").count - 1, 2, "resumed from checkpoints")
        XCTAssertEqual(try daemon.jobs().count, 1, "one job, not doubled")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.outbox.path), ["r"], "one result, no leftovers")
        XCTAssertEqual(try daemon.modelTensors("r"), reference, "bitwise the weights of the uninterrupted run after \(kills) kills")
        daemon.stop()
    }

    func test_sigterm_exitsZeroWithinSeconds_requeuesTheJob_andItResumesToTheSameWeights() throws {
        let bundle = try TinyBundle.make(seed: 8, epochs: 300)
        let reference = try uninterruptedModel(bundle)
        let daemon = try DaemonHarness("sigterm")
        try daemon.start()
        try daemon.drop(bundle, as: "r.tar.gz")
        daemon.waitUntil("epoch 3 is running") { (try daemon.jobs().first?.progress?.epoch ?? 0) >= 3 }
        let (exit, seconds) = daemon.stop(SIGTERM)
        XCTAssertEqual(exit, 0)
        XCTAssertLessThan(seconds, 10)
        let job = try XCTUnwrap(try daemon.jobs().first)
        XCTAssertEqual(job.state, .queued, "back in the queue")
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.state.appendingPathComponent("checkpoints/\(job.id).\(job.generation).checkpoint").path),
                      "the checkpoint of the claim that was stopped")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.outbox.path), [], "nothing half-written is visible")
        try daemon.start()
        daemon.waitUntil("the job finishes", timeout: 120) { try daemon.jobs().first?.state == .done }
        XCTAssertTrue(daemon.logText.contains("resuming after epoch"), "resumed from the checkpoint")
        XCTAssertEqual(try daemon.modelTensors("r"), reference)
        daemon.stop()
    }

    func test_sigtermAtAnyMomentOfStartUp_stopsTheDaemonWithExitZero() throws {
        let daemon = try DaemonHarness("early-sigterm")
        var random = SystemRandomNumberGenerator()
        for round in 0..<8 {
            try daemon.start()
            // From the moment the daemon handles SIGTERM (/proc shows it caught or ignored), through
            // start-up, into the service group.
            let pid = daemon.process!.processIdentifier
            daemon.waitUntil("the daemon handles SIGTERM", timeout: 10) {
                let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
                let masks = status.split(separator: "\n").filter { $0.hasPrefix("SigIgn:") || $0.hasPrefix("SigCgt:") }
                    .map { UInt64($0.split(separator: "\t").last ?? "", radix: 16) ?? 0 }
                return masks.reduce(0, |) & (1 << (UInt64(SIGTERM) - 1)) != 0
            }
            usleep(UInt32(round) * 15_000 + UInt32.random(in: 0...10_000, using: &random))
            let (exit, seconds) = daemon.stop(SIGTERM)
            XCTAssertEqual(exit, 0, "round \(round)")
            XCTAssertLessThan(seconds, 10, "round \(round): a signal during start-up is not lost")
        }
    }

    func test_bundlesDroppedWhileDown_arePickedUpAtStart_andTheSameContentTwiceTrainsOnce() throws {
        let daemon = try DaemonHarness("down")
        let bundle = try TinyBundle.make(seed: 3, epochs: 1)
        try daemon.drop(bundle, as: "first.tar.gz")
        try daemon.drop(bundle, as: "again.tgz")
        try daemon.start()
        daemon.waitUntil("both jobs finish") { try daemon.jobs().count == 2 && daemon.jobs().allSatisfy { $0.state == .done } }
        let jobs = try daemon.jobs()
        let copy = try XCTUnwrap(jobs.first { $0.duplicateOf != nil }, "one job points at the other")
        let original = try XCTUnwrap(jobs.first { $0.duplicateOf == nil })
        XCTAssertEqual(copy.duplicateOf, original.id)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: daemon.outbox.appendingPathComponent(copy.resultName!).path),
                       original.resultName, "the copy's entry points at the earlier result")
        XCTAssertEqual(daemon.logText.components(separatedBy: "epoch 1/1").count - 1, 1, "trained once")
        XCTAssertEqual(daemon.logText.components(separatedBy: "reading how far each class's images vary (the spread objective)").count - 1, 1,
                       "the default objective's reading is announced, once: \(daemon.logText.suffix(2000))")
        daemon.stop()
    }

    func test_bundleThatAlwaysFailsTraining_failsAfterItsRetries_withoutBlockingOthers() throws {
        let daemon = try DaemonHarness("retries", extraConfiguration: "max_attempts = 2")
        try daemon.start()
        try daemon.drop(TinyBundle.make(seed: 4, epochs: 1, divergent: true), as: "bad.tar.gz")
        try daemon.drop(TinyBundle.make(seed: 5, epochs: 1), as: "good.tar.gz")
        daemon.waitUntil("both finish") { try daemon.jobs().count == 2 && daemon.jobs().allSatisfy { $0.state == .done || $0.state == .failed } }
        let jobs = try daemon.jobs()
        let bad = try XCTUnwrap(jobs.first { $0.name == "bad" })
        XCTAssertEqual(bad.state, .failed)
        XCTAssertTrue(bad.error?.contains("training diverged") == true && bad.error?.contains("failed 2 times") == true, bad.error ?? "")
        XCTAssertEqual(jobs.first { $0.name == "good" }?.state, .done)
        let error = try String(contentsOf: daemon.outbox.appendingPathComponent("bad/error.json"), encoding: .utf8)
        XCTAssertTrue(error.contains("\"fault\" : \"training\"") && error.contains("\"attempts\" : 2"), error)

        // retry sends it back; it fails again, on its own.
        let retried = try daemon.command(["retry", String(bad.id)])
        XCTAssertEqual(retried.status, 0, retried.output)
        daemon.waitUntil("the retried job fails again") { try daemon.queue().job(id: bad.id)?.state == .failed && daemon.outbox.appendingPathComponent("bad-2").isReachable() }
        daemon.stop()
    }

    func test_cancel_ofAJobWaitingForItsRetry_movesItsBundleToQuarantine() throws {
        let daemon = try DaemonHarness("cancel-waiting", extraConfiguration: "retry_backoff = 3600")
        try daemon.start()
        try daemon.drop(TinyBundle.make(seed: 4, epochs: 1, divergent: true), as: "waits.tar.gz")
        daemon.waitUntil("the job failed once and waits for its retry") {
            guard let job = try daemon.jobs().first else { return false }
            return job.state == .queued && job.attempts == 1
        }
        let spooled = try XCTUnwrap(try daemon.jobs().first).bundlePath
        XCTAssertTrue(spooled.contains("/spool/") && FileManager.default.fileExists(atPath: spooled), spooled)
        let cancelled = try daemon.command(["cancel", "1"])
        XCTAssertEqual(cancelled.status, 0, cancelled.output)
        XCTAssertTrue(cancelled.output.contains("cancelled; the daemon moves its bundle to quarantine"), cancelled.output)
        daemon.waitUntil("the bundle is in quarantine") { try daemon.jobs().first?.bundlePath.contains("/quarantine/") == true }
        let job = try XCTUnwrap(try daemon.jobs().first)
        XCTAssertEqual(job.state, .cancelled)
        XCTAssertTrue(FileManager.default.fileExists(atPath: job.bundlePath), "the bundle is where the queue says: \(job.bundlePath)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: spooled), "nothing is left in the spool")
        XCTAssertTrue(daemon.logText.contains("job 1: cancelled while queued; its bundle is in"), daemon.logText)
        daemon.stop()
    }

    func test_cancel_stopsARunningJobAtTheNextBatch_andKeepsItsBundle() throws {
        let daemon = try DaemonHarness("cancel")
        try daemon.start()
        try daemon.drop(TinyBundle.make(seed: 6, epochs: 500), as: "long.tar.gz")
        daemon.waitUntil("the job runs") { try daemon.jobs().first?.state == .running }
        let cancelled = try daemon.command(["cancel", "1"])
        XCTAssertEqual(cancelled.status, 0, cancelled.output)
        XCTAssertTrue(cancelled.output.contains("stops at its next batch"), cancelled.output)
        daemon.waitUntil("the job is cancelled", timeout: 10) { try daemon.jobs().first?.state == .cancelled }
        let job = try XCTUnwrap(try daemon.jobs().first)
        XCTAssertTrue(job.bundlePath.contains("/quarantine/") && FileManager.default.fileExists(atPath: job.bundlePath))
        let again = try daemon.command(["cancel", "1"])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.output.contains("job 1 is cancelled: cannot cancel it"), again.output)
        daemon.stop()
    }
}

extension DaemonProcessTests {
    func test_statusAndJobs_forAUserWhoMayOnlyRead_workAndChangeNothing() throws {
        let reader = try DaemonHarness.unprivilegedUser()
        let daemon = try DaemonHarness("reader")
        try daemon.start()
        try daemon.drop(TinyBundle.make(seed: 9, epochs: 1), as: "r.tar.gz")
        daemon.waitUntil("the bundle is done") { try daemon.jobs().first?.state == .done }

        // While the daemon runs (it owns the queue's -wal and -shm; the reader may not write them).
        var status = try daemon.command(["status"], as: reader)
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("daemon: running") && status.output.contains("1 done"), status.output)

        // And when it does not: nothing may be created or changed in the state folder.
        daemon.stop()
        let queueFile = daemon.state.appendingPathComponent("queue.sqlite")
        let before = try Data(contentsOf: queueFile)
        let listingBefore = try FileManager.default.contentsOfDirectory(atPath: daemon.state.path).sorted()
        status = try daemon.command(["status"], as: reader)
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("daemon: not running") && status.output.contains("1 done"), status.output)
        let listing = try daemon.command(["jobs"], as: reader)
        XCTAssertEqual(listing.status, 0, listing.output)
        XCTAssertTrue(listing.output.contains("outbox/r"), listing.output)
        XCTAssertEqual(try Data(contentsOf: queueFile), before, "the queue is not written")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.state.path).sorted(), listingBefore, "no file created beside it")

        // The daemon starts again afterwards (no file of the reader's in its way).
        try daemon.start()
        try daemon.drop(TinyBundle.make(seed: 10, epochs: 1), as: "r2.tar.gz")
        daemon.waitUntil("the second bundle is done") { try daemon.jobs().count == 2 && daemon.jobs().allSatisfy { $0.state == .done } }
        daemon.stop()
    }
}

private extension URL {
    func isReachable() -> Bool { FileManager.default.fileExists(atPath: path) }
}
