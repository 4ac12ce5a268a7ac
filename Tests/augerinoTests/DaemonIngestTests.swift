import Bundle
import Foundation
import Pipeline
import TestSupport
import XCTest

/// The inbox as a careless or hostile user sees it: real processes, a real inbox shared with a
/// writer that races the daemon, links and FIFOs swapped in atomically, slow writers, files
/// the daemon may not read, names with control characters, and a create-delete loop.
final class DaemonIngestTests: XCTestCase {
    // MARK: Helpers

    /// renameat2(RENAME_EXCHANGE): swaps two names in one step (looked up at run time; Glibc's
    /// Swift module does not export it).
    enum Exchange {
        typealias Function = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        static let function: Function? = dlsym(nil, "renameat2").map { unsafeBitCast($0, to: Function.self) }
        static func swap(_ a: String, _ b: String) -> Bool { function?(AT_FDCWD, a, AT_FDCWD, b, 2) == 0 }
        /// Renames without replacing what is there.
        static func move(_ a: String, _ b: String) -> Bool { function?(AT_FDCWD, a, AT_FDCWD, b, 1) == 0 }
    }

    static func sha256(_ data: Data) -> String {
        var hasher = SHA256()
        hasher.update(data)
        return hasher.finalize()
    }

    /// The manifest's "name" of a published result (each TinyBundle names its seed).
    func manifestName(_ daemon: DaemonHarness, _ entry: String) throws -> String? {
        let url = daemon.outbox.appendingPathComponent(entry).appendingPathComponent("manifest.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        return object?["name"] as? String
    }

    /// Every file under `folder`, recursively (links not followed).
    func files(under folder: URL) -> [URL] {
        guard let items = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        return items.compactMap { $0 as? URL }.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
    }

    /// The outbox entries holding an error.json.
    func errorEntries(_ daemon: DaemonHarness) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: daemon.outbox.path)) ?? []).filter {
            FileManager.default.fileExists(atPath: daemon.outbox.appendingPathComponent($0).appendingPathComponent("error.json").path)
        }.sorted()
    }

    func outboxEntries(_ daemon: DaemonHarness) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: daemon.outbox.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// A writer that writes `first`, waits `pause` seconds with the file still open, then
    /// replaces or extends it with `second` and closes it; on a thread of its own.
    final class SlowWriter: @unchecked Sendable {
        let finished = DispatchSemaphore(value: 0)
        let paused = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)

        /// - Parameter rewrite: true: the second part replaces the file's content from its
        ///   start (truncating); false: it is appended.
        init(path: String, first: Data, second: Data, rewrite: Bool, pause: Double? = nil) {
            Thread { [self] in
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                _ = first.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                paused.signal()
                if let pause { usleep(UInt32(pause * 1e6)) } else { resume.wait() }
                if rewrite {
                    ftruncate(fd, 0)
                    _ = second.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                } else {
                    _ = second.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                }
                close(fd)
                finished.signal()
            }.start()
        }
    }

    // MARK: The exchange race

    /// Swaps inbox/x.tar.gz (a regular file holding `bundle`) with `hostile` (an inbox entry
    /// that is a link or FIFO) as fast as it can for `seconds`, putting the bundle back when the
    /// daemon takes it (at most 10 times). Returns (exchanges, times the bundle was put back).
    func race(_ daemon: DaemonHarness, bundle: Data, hostile: URL, seconds: Double) throws -> (exchanges: Int, drops: Int) {
        guard Exchange.function != nil else { throw XCTSkip("renameat2 is not in this C library; the exchange race needs it; skipped") }
        let target = daemon.inbox.appendingPathComponent("x.tar.gz").path
        let staging = daemon.inbox.appendingPathComponent(".x.part")
        var exchanges = 0, drops = 0
        let end = Date() + seconds
        while Date() < end {
            if Exchange.swap(target, hostile.path) {
                exchanges += 1
            } else if errno == ENOENT, drops < 10 {
                // The daemon took the bundle (and removed it): drop it again and keep racing
                // (never over an entry the daemon has just put back).
                try bundle.write(to: staging)
                if Exchange.move(staging.path, target) { drops += 1 } else { unlink(staging.path) }
            } else if errno == ENOENT {
                break
            }
        }
        return (exchanges, drops)
    }

    /// A race against one kind of hostile entry; then checks that nothing but the dropped
    /// bundle was read, and that the daemon still takes bundles.
    func checkExchangeRace(_ purpose: String, user: DaemonHarness.UnprivilegedUser?, makeHostile: (URL) throws -> Void,
                           forbiddenHashes: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let daemon = try DaemonHarness(purpose, extraConfiguration: "max_failures = 0\nmax_failures_per_name = 0")
        daemon.user = user
        try daemon.start()
        let bundle = try TinyBundle.make(seed: 21, epochs: 1, count: 16)
        let hostile = daemon.inbox.appendingPathComponent(".hostile")
        try makeHostile(hostile)
        try bundle.write(to: daemon.inbox.appendingPathComponent("x.tar.gz"))
        let (exchanges, drops) = try race(daemon, bundle: bundle, hostile: hostile, seconds: 3)
        print("exchange race (\(purpose)): \(exchanges) exchanges in 3 s, the bundle taken and dropped again \(drops) times")
        XCTAssertGreaterThan(exchanges, 100, "the race ran", file: file, line: line)
        // The daemon removed nothing but files it took: the hostile entry is still in the inbox
        // (looked for once the daemon has dealt with the race's last events: a listing taken
        // while it renames entries may miss one).
        var left: [String] = []
        daemon.waitUntil("the swapped-in entry is found in the inbox", timeout: 10, file: file, line: line) {
            left = try FileManager.default.contentsOfDirectory(atPath: daemon.inbox.path)
            return left.filter { name in
                var info = stat()
                return lstat(daemon.inbox.appendingPathComponent(name).path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG
            }.count == 1
        }
        for name in left { try? FileManager.default.removeItem(at: daemon.inbox.appendingPathComponent(name)) }
        let refusals = daemon.logText.components(separatedBy: "x.tar.gz: it is ").count - 1
        print("exchange race (\(purpose)): \(refusals) refusal lines logged")
        XCTAssertLessThanOrEqual(refusals, 2 * drops + 3, "logged about once per entry and take, not once per exchange", file: file, line: line)

        // The daemon keeps taking bundles.
        let after = try TinyBundle.make(seed: 22, epochs: 1, count: 16)
        try daemon.drop(after, as: "after.tar.gz")
        daemon.waitUntil("the bundle dropped after the race is done", timeout: 120, file: file, line: line) {
            try daemon.jobs().contains { $0.fileName == "after.tar.gz" && $0.state == .done }
        }
        daemon.waitUntil("every job has finished", timeout: 120, file: file, line: line) {
            try daemon.jobs().allSatisfy { $0.state == .done || $0.state == .failed || $0.state == .cancelled }
        }
        XCTAssertTrue(daemon.isRunning, file: file, line: line)
        let allowed = [Self.sha256(bundle), Self.sha256(after)]
        let jobs = try daemon.jobs()
        XCTAssertGreaterThanOrEqual(jobs.count, 1, file: file, line: line)
        for job in jobs {
            XCTAssertTrue(allowed.contains(job.sha256), "job \(job.id) has a hash of something that was never a dropped bundle: \(job.sha256)", file: file, line: line)
            XCTAssertFalse(forbiddenHashes.contains(job.sha256), "job \(job.id) read the file outside the inbox", file: file, line: line)
        }
        // Nothing else was copied, trained or published.
        for stored in files(under: daemon.state.appendingPathComponent("spool")) + files(under: daemon.state.appendingPathComponent("quarantine")) {
            XCTAssertTrue(allowed.contains(Self.sha256(try Data(contentsOf: stored))), "\(stored.lastPathComponent) is not a dropped bundle", file: file, line: line)
        }
        for published in files(under: daemon.outbox) {
            let text = String(decoding: try Data(contentsOf: published), as: UTF8.self)
            for hash in forbiddenHashes { XCTAssertFalse(text.contains(hash), "\(published.path) names the outside file's hash", file: file, line: line) }
        }
        for entry in outboxEntries(daemon) where FileManager.default.fileExists(atPath: daemon.outbox.appendingPathComponent("\(entry)/model.safetensors").path) {
            XCTAssertEqual(try manifestName(daemon, entry), entry.hasPrefix("after") ? "tiny-22" : "tiny-21", "outbox/\(entry) was trained on its own bundle", file: file, line: line)
        }
        daemon.stop()
    }

    func test_exchangeRace_withALinkToAPrivateBundleOutsideTheInbox_neverReadsIt() throws {
        let user = try? DaemonHarness.unprivilegedUser()
        let outside = try makeScratchFolder("private")
        defer { try? FileManager.default.removeItem(at: outside) }
        // A bundle only the daemon's user may read, outside the inbox.
        let secret = try TinyBundle.make(seed: 99, epochs: 1, count: 16)
        let secretFile = outside.appendingPathComponent("private.tar.gz")
        try secret.write(to: secretFile)
        chmod(secretFile.path, 0o600)
        if let user { lchown(outside.path, user.uid, user.gid); lchown(secretFile.path, user.uid, user.gid) }
        try checkExchangeRace("race-private", user: user, makeHostile: { try FileManager.default.createSymbolicLink(at: $0, withDestinationURL: secretFile) },
                              forbiddenHashes: [Self.sha256(secret)])
    }

    func test_exchangeRace_withALinkToASystemFile_neverHashesIt() throws {
        let system = URL(fileURLWithPath: "/etc/passwd")
        try checkExchangeRace("race-system", user: nil, makeHostile: { try FileManager.default.createSymbolicLink(at: $0, withDestinationURL: system) },
                              forbiddenHashes: [Self.sha256(try Data(contentsOf: system))])
    }

    func test_exchangeRace_withAFIFO_neverBlocks() throws {
        try checkExchangeRace("race-fifo", user: nil, makeHostile: { XCTAssertEqual(mkfifo($0.path, 0o666), 0) }, forbiddenHashes: [])
    }

    func test_exchangeRace_withALinkToDevZero_neverReadsForever() throws {
        try checkExchangeRace("race-zero", user: nil, makeHostile: { try FileManager.default.createSymbolicLink(atPath: $0.path, withDestinationPath: "/dev/zero") },
                              forbiddenHashes: [])
    }

    func test_linkFIFOAndFolder_stayInTheInbox_eachExplainedOnceInAnErrorJSON() throws {
        let daemon = try DaemonHarness("not-files")
        try daemon.start()
        try FileManager.default.createSymbolicLink(atPath: daemon.inbox.appendingPathComponent("link.tar.gz").path, withDestinationPath: "/etc/passwd")
        XCTAssertEqual(mkfifo(daemon.inbox.appendingPathComponent("pipe.tar.gz").path, 0o644), 0)
        try FileManager.default.createDirectory(at: daemon.inbox.appendingPathComponent("folder.tar.gz"), withIntermediateDirectories: false)
        daemon.waitUntil("three error.json files") { self.errorEntries(daemon) == ["folder", "link", "pipe"] }
        usleep(1_500_000)  // three more rescans
        XCTAssertEqual(errorEntries(daemon), ["folder", "link", "pipe"], "one each, not one per scan")
        for (entry, kind) in [("link", "a symbolic link"), ("pipe", "a FIFO"), ("folder", "a folder")] {
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: daemon.outbox.appendingPathComponent("\(entry)/error.json"))) as! [String: Any]
            XCTAssertEqual(report["stage"] as? String, "ingest")
            XCTAssertTrue((report["error"] as? String)?.contains(kind) == true, "\(report)")
            XCTAssertNotNil(report["hint"])
            XCTAssertEqual(daemon.logText.components(separatedBy: "\(entry).tar.gz: it is \(kind)").count - 1, 1, "one log line for \(entry)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.inbox.path).sorted(), ["folder.tar.gz", "link.tar.gz", "pipe.tar.gz"], "all left where they were")
        XCTAssertTrue(try daemon.jobs().isEmpty)
        daemon.stop()
    }

    func test_anEntryLeftAsideByACrash_getsItsNameBack_andIsTaken() throws {
        let daemon = try DaemonHarness("aside")
        try daemon.drop(TinyBundle.make(seed: 23, epochs: 1, count: 16), as: ".augerino-taken-1-2-3--lost.tar.gz")
        try daemon.start()
        daemon.waitUntil("it is taken under its own name", timeout: 60) { try daemon.jobs().contains { $0.fileName == "lost.tar.gz" && $0.state == .done } }
        XCTAssertTrue(daemon.logText.contains("given its name back as lost.tar.gz"), daemon.logText)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.inbox.path), [])
        daemon.stop()
    }

    // MARK: Writers that are not done

    /// Half a bundle, a pause longer than settle_time with the file open, then the rest.
    func checkSlowWriter(_ purpose: String, user: DaemonHarness.UnprivilegedUser?, startDuringPause: Bool) throws {
        let daemon = try DaemonHarness(purpose, extraConfiguration: "settle_time = 0.5")
        daemon.user = user
        let bundle = try TinyBundle.make(seed: 31, epochs: 1, count: 16)
        let half = bundle.count / 2
        if !startDuringPause {
            try daemon.start()
            daemon.waitUntilReady()
        }
        let writer = SlowWriter(path: daemon.inbox.appendingPathComponent("slow.tar.gz").path, first: bundle.prefix(half),
                                second: bundle.suffix(from: half), rewrite: false)
        writer.paused.wait()
        if startDuringPause { try daemon.start() }
        usleep(2_500_000)  // five settle times and rescans with the file half written
        writer.resume.signal()
        writer.finished.wait()
        daemon.waitUntil("the finished bundle is done", timeout: 120) {
            try daemon.jobs().contains { $0.sha256 == Self.sha256(bundle) && $0.state == .done }
        }
        daemon.waitUntil("one result and no error.json in the outbox", timeout: 30) {
            self.outboxEntries(daemon) == ["slow"] && self.errorEntries(daemon).isEmpty
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.outbox.appendingPathComponent("slow/model.safetensors").path))
        for job in try daemon.jobs() where job.sha256 != Self.sha256(bundle) {
            XCTAssertNotNil(job.supersededBy, "job \(job.id) took the half-written file and was superseded by the finished one")
        }
        print("slow writer (\(purpose)): jobs \(try daemon.jobs().map { "\($0.id) \($0.state.rawValue)\($0.supersededBy.map { " superseded by \($0)" } ?? "")" })")
        daemon.stop()
    }

    func test_slowWriterWithoutAPartName_daemonRunning_takesTheFinishedFileOnly() throws {
        try checkSlowWriter("slow-running", user: nil, startDuringPause: false)
    }

    func test_slowWriterWithoutAPartName_daemonRunningWithoutLeases_takesTheFinishedFileOnly() throws {
        try checkSlowWriter("slow-nolease", user: try DaemonHarness.unprivilegedUser(), startDuringPause: false)
    }

    func test_slowWriterWithoutAPartName_daemonStartedDuringThePause_endsWithOneResultOfTheFinishedFile() throws {
        try checkSlowWriter("slow-restart", user: try DaemonHarness.unprivilegedUser(), startDuringPause: true)
    }

    /// A writer keeps its descriptor and rewrites the file with another bundle after the daemon
    /// could have hashed it.
    func checkWriteAfterHash(_ purpose: String, user: DaemonHarness.UnprivilegedUser?, startDuringPause: Bool) throws {
        let daemon = try DaemonHarness(purpose, extraConfiguration: "settle_time = 0.5")
        daemon.user = user
        let first = try TinyBundle.make(seed: 41, epochs: 1, count: 16), second = try TinyBundle.make(seed: 42, epochs: 1, count: 16)
        let names = [Self.sha256(first): "tiny-41", Self.sha256(second): "tiny-42"]
        if !startDuringPause {
            try daemon.start()
            daemon.waitUntilReady()
        }
        let writer = SlowWriter(path: daemon.inbox.appendingPathComponent("w.tar.gz").path, first: first, second: second, rewrite: true)
        writer.paused.wait()
        if startDuringPause {
            try daemon.start()
            daemon.waitUntil("the first content is taken") { try daemon.jobs().contains { $0.sha256 == Self.sha256(first) } }
        } else {
            usleep(2_000_000)
        }
        writer.resume.signal()
        writer.finished.wait()
        daemon.waitUntil("the rewritten bundle is done", timeout: 120) {
            try daemon.jobs().contains { $0.sha256 == Self.sha256(second) && $0.state == .done }
        }
        daemon.waitUntil("every job has finished", timeout: 60) { try daemon.jobs().allSatisfy { $0.state != .queued && $0.state != .running } }
        // Every result is the bundle its recorded hash says.
        for job in try daemon.jobs() where job.state == .done {
            XCTAssertEqual(try manifestName(daemon, job.resultName!), names[job.sha256], "job \(job.id)'s result was trained on the bytes it records")
            let record = try JSONSerialization.jsonObject(with: Data(contentsOf: daemon.outbox.appendingPathComponent("\(job.resultName!)/job.json"))) as! [String: Any]
            XCTAssertEqual(record["sha256"] as? String, job.sha256)
        }
        if !startDuringPause {
            XCTAssertEqual(try daemon.jobs().map(\.sha256), [Self.sha256(second)], "the first content was never taken while its writer had the file open")
        }
        // An honest drop of the first bundle is its own content, not the rewritten one's.
        try daemon.drop(first, as: "honest.tar.gz")
        daemon.waitUntil("the honest drop is done", timeout: 120) { try daemon.jobs().contains { $0.fileName == "honest.tar.gz" && $0.state == .done } }
        XCTAssertEqual(try manifestName(daemon, "honest"), "tiny-41")
        daemon.stop()
    }

    func test_writeAfterHash_daemonRunning_onlyTheFinishedContentIsTaken() throws {
        try checkWriteAfterHash("rewrite-running", user: nil, startDuringPause: false)
    }

    func test_writeAfterHash_daemonStartedWhileTheWriterHoldsTheFile_everyResultIsTheBytesItsHashNames() throws {
        try checkWriteAfterHash("rewrite-restart", user: try DaemonHarness.unprivilegedUser(), startDuringPause: true)
    }

    // MARK: Files the daemon may not read

    func test_unreadableFile_asANonRootDaemon_staysInTheInbox_withOneErrorJSONAndOneLogLine_andIsTakenOnceReadable() throws {
        let user = try DaemonHarness.unprivilegedUser()
        let daemon = try DaemonHarness("unreadable")
        daemon.user = user
        try daemon.start()
        let bundle = try TinyBundle.make(seed: 51, epochs: 1, count: 16)
        let staging = daemon.inbox.appendingPathComponent(".locked.part")
        try bundle.write(to: staging)
        chmod(staging.path, 0o600)  // the test's user (root) owns it: the daemon (nobody) may not read it
        rename(staging.path, daemon.inbox.appendingPathComponent("locked.tar.gz").path)
        daemon.waitUntil("its error.json appears") { self.errorEntries(daemon) == ["locked"] }
        usleep(2_000_000)  // four more rescans
        XCTAssertEqual(errorEntries(daemon), ["locked"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.inbox.appendingPathComponent("locked.tar.gz").path), "the user's file is not lost")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: daemon.outbox.appendingPathComponent("locked/error.json"))) as! [String: Any]
        XCTAssertEqual(report["stage"] as? String, "ingest")
        XCTAssertTrue((report["error"] as? String)?.contains("cannot read it") == true, "\(report)")
        XCTAssertTrue((report["hint"] as? String)?.contains("chmod") == true, "\(report)")
        XCTAssertEqual(daemon.logText.components(separatedBy: "locked.tar.gz: the daemon's user").count - 1, 1, "one log line, not one per rescan:\n\(daemon.logText)")
        XCTAssertTrue(try daemon.jobs().isEmpty)

        chmod(daemon.inbox.appendingPathComponent("locked.tar.gz").path, 0o644)
        daemon.waitUntil("it is trained once readable", timeout: 120) { try daemon.jobs().first?.state == .done }
        daemon.waitUntil("the stale error.json is withdrawn") { self.errorEntries(daemon).isEmpty }
        XCTAssertEqual(outboxEntries(daemon), ["locked"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.outbox.appendingPathComponent("locked/model.safetensors").path))
        daemon.stop()
    }

    // MARK: Names

    func test_controlCharactersInNames_areEscapedInTheLogStatusJobsAndReport_andExactInJSON() throws {
        let daemon = try DaemonHarness("control")
        let listener = try DaemonProcessTests.NotifyListener()
        daemon.environment["NOTIFY_SOCKET"] = listener.path
        try daemon.start()
        let evil = "evil\nERROR forged line \u{1b}[31mred.tar.gz", bad = "bad\r\n\u{1b}]0;title\u{7}\u{202e}.tar.gz"
        try daemon.drop(TinyBundle.make(seed: 61, epochs: 1, count: 16), as: evil)
        try daemon.drop(Data("not a bundle".utf8), as: bad)
        daemon.waitUntil("both finish") { try daemon.jobs().count == 2 && daemon.jobs().allSatisfy { $0.state == .done || $0.state == .failed } }

        let log = daemon.logText
        XCTAssertFalse(log.split(separator: "\n").contains { $0.hasPrefix("ERROR forged") }, "no forged log line:\n\(log)")
        XCTAssertFalse(log.unicodeScalars.contains { $0 == "\u{1b}" || $0 == "\r" || $0 == "\u{7}" || $0 == "\u{202e}" }, "no raw control characters in the log")
        XCTAssertTrue(log.contains("evil\\nERROR forged line \\u{1b}[31mred.tar.gz"), log)

        let listing = try daemon.command(["jobs"])
        XCTAssertEqual(listing.status, 0)
        XCTAssertEqual(listing.output.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }.count, 3, "a header and two rows:\n\(listing.output)")
        XCTAssertFalse(listing.output.unicodeScalars.contains { $0 == "\u{1b}" || $0 == "\r" }, listing.output)
        let status = try daemon.command(["status"])
        XCTAssertFalse(status.output.unicodeScalars.contains { $0 == "\u{1b}" || $0 == "\r" }, status.output)

        // --json and error.json keep the exact names.
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let exact = try decoder.decode([Job].self, from: Data(try daemon.command(["jobs", "--json"]).output.utf8))
        XCTAssertEqual(Set(exact.map(\.fileName)), [evil, bad])
        let failed = try XCTUnwrap(exact.first { $0.state == .failed })
        let error = try JSONSerialization.jsonObject(with: Data(contentsOf: daemon.outbox.appendingPathComponent("\(failed.resultName!)/error.json"))) as! [String: Any]
        XCTAssertEqual(error["bundle"] as? String, bad)

        // The report's Markdown keeps the bundle's name on one table row.
        let done = try XCTUnwrap(exact.first { $0.state == .done })
        let markdown = try String(contentsOf: daemon.outbox.appendingPathComponent("\(done.resultName!)/report.md"), encoding: .utf8)
        XCTAssertFalse(markdown.unicodeScalars.contains { $0 == "\u{1b}" }, "no raw escape in report.md")
        XCTAssertTrue(markdown.contains("| bundle | `evil\\nERROR forged line \\u{1b}[31mred.tar.gz` |"), markdown)

        daemon.stop()
        // Every line of every message to systemd is a key it knows: no name starts a line.
        for message in listener.finish() {
            for messageLine in message.split(separator: "\n") {
                XCTAssertTrue(["READY=1", "STATUS=", "WATCHDOG=1", "STOPPING=1"].contains { messageLine.hasPrefix($0) }, "forged notify line: \(messageLine)")
                XCTAssertFalse(messageLine.unicodeScalars.contains { $0 == "\u{1b}" || $0 == "\r" })
            }
        }
    }

    // MARK: Floods and leftovers

    func test_createDeleteLoop_isBoundedByTheFailureLimit_andAValidBundleWaitsThenIsTaken() throws {
        let daemon = try DaemonHarness("flood", extraConfiguration: "max_failures = 8\nmax_failures_per_name = 2\nfailure_window = 6")
        try daemon.start()
        var created = 0
        let end = Date() + 3
        var random = SystemRandomNumberGenerator()
        while Date() < end {
            let path = daemon.inbox.appendingPathComponent("junk-\(created).tar.gz").path
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            let junk = (0..<64).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = write(fd, junk, junk.count)
            close(fd)
            usleep(UInt32.random(in: 0...3000, using: &random))
            unlink(path)
            created += 1
        }
        usleep(1_000_000)
        // A bundle taken in the loop's last moment may still be on its way: the queue, the
        // quarantine and the outbox agree once it has settled (read at one instant they can be
        // one apart; measured once in CI: 7 failed jobs, 8 quarantined). A file refused before
        // it became a job (caught half-written, say) is explained in an error.json of its own
        // and logged so, without a job or a quarantined copy (measured: 7 failed jobs, 8 error.json).
        let quarantine = daemon.state.appendingPathComponent("quarantine").path
        let refused = { daemon.logText.components(separatedBy: ": explained in outbox/").count - 1 }
        daemon.waitUntil("every failed job quarantined with its error.json", timeout: 30) {
            let failed = try daemon.jobs().filter { $0.state == .failed }.count
            return try failed == FileManager.default.contentsOfDirectory(atPath: quarantine).count && failed + refused() == errorEntries(daemon).count
        }
        let failed = try daemon.jobs().filter { $0.state == .failed }.count
        let quarantined = try FileManager.default.contentsOfDirectory(atPath: quarantine).count
        print("create-delete loop: \(created) files created and deleted in 3 s; \(failed) failed jobs, \(refused()) refused, " +
              "\(errorEntries(daemon).count) error.json, \(quarantined) quarantined")
        XCTAssertGreaterThan(created, 200, "the loop ran")
        XCTAssertLessThanOrEqual(failed + refused(), 8, "bounded by max_failures: a bundle counts from the moment it is taken or refused")
        XCTAssertEqual(errorEntries(daemon).count, failed + refused())
        XCTAssertEqual(quarantined, failed)
        XCTAssertFalse(daemon.logText.contains("state folder") || daemon.logText.contains("free space"),
                       "a file that vanished is not the state folder's problem:\n\(daemon.logText.suffix(3000))")
        XCTAssertTrue(daemon.isRunning)

        // Past the limit a valid bundle waits in the inbox, and is taken once the window has room.
        if failed + refused() >= 8 {
            try daemon.drop(TinyBundle.make(seed: 71, epochs: 1, count: 16), as: "valid.tar.gz")
            usleep(500_000)
            XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.inbox.appendingPathComponent("valid.tar.gz").path), "deferred while the limit holds")
            XCTAssertTrue(daemon.logText.contains("valid.tar.gz: not taken yet"), daemon.logText.suffix(2000).description)
        } else {
            try daemon.drop(TinyBundle.make(seed: 71, epochs: 1, count: 16), as: "valid.tar.gz")
        }
        daemon.waitUntil("the valid bundle is done", timeout: 60) { try daemon.jobs().contains { $0.fileName == "valid.tar.gz" && $0.state == .done } }
        daemon.stop()
    }

    func test_sameBadNameAgainAndAgain_isDeferredAfterMaxFailuresPerName() throws {
        let daemon = try DaemonHarness("per-name", extraConfiguration: "max_failures_per_name = 2\nfailure_window = 600")
        try daemon.start()
        for round in 1...2 {
            try daemon.drop(Data("broken \(round)".utf8), as: "again.tar.gz")
            daemon.waitUntil("failure \(round)") { try daemon.jobs().filter { $0.state == .failed }.count == round }
        }
        try daemon.drop(Data("broken 3".utf8), as: "again.tar.gz")
        try daemon.drop(TinyBundle.make(seed: 72, epochs: 1, count: 16), as: "other.tar.gz")
        daemon.waitUntil("another name is still taken") { try daemon.jobs().contains { $0.fileName == "other.tar.gz" && $0.state == .done } }
        XCTAssertEqual(try daemon.jobs().filter { $0.fileName == "again.tar.gz" }.count, 2, "the third is not taken")
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.inbox.appendingPathComponent("again.tar.gz").path))
        XCTAssertEqual(daemon.logText.components(separatedBy: "again.tar.gz: not taken yet").count - 1, 1, "said once")
        daemon.stop()
    }

    func test_stopDuringACopy_leavesNoPartialCopy_andAKillsLeftoverIsRemovedAtStart() throws {
        let daemon = try DaemonHarness("copy-stop", extraConfiguration: "max_failures = 0")
        var random = TestRandomBytes(seed: 5)
        let big = random.data(count: 24 << 20)
        let spool = daemon.state.appendingPathComponent("spool")
        func partialCopies() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasPrefix(".incoming-") } }
        try daemon.start()
        try daemon.drop(big, as: "big.tar.gz")

        // SIGTERM: the copy stops, its partial file goes, the bundle stays in the inbox.
        daemon.waitUntil("the copy is under way", timeout: 30) { try !partialCopies().isEmpty }
        XCTAssertEqual(daemon.stop(SIGTERM).status, 0)
        XCTAssertEqual(try partialCopies(), [], "a graceful stop leaves no partial copy")
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.inbox.appendingPathComponent("big.tar.gz").path), "the bundle waits in the inbox")

        // kill -9: the partial copy stays until the next start removes it and takes the file again.
        try daemon.start()
        daemon.waitUntil("the copy is under way again", timeout: 30) { try !partialCopies().isEmpty }
        daemon.stop(SIGKILL)
        XCTAssertFalse(try partialCopies().isEmpty, "the kill left a partial copy")
        try daemon.start()
        daemon.waitUntil("the file is taken again", timeout: 120) { try daemon.jobs().contains { $0.sha256 == Self.sha256(big) } }
        XCTAssertTrue(daemon.logText.contains("a copy from the inbox that a stop interrupted"), daemon.logText)
        XCTAssertEqual(try partialCopies(), [])
        XCTAssertEqual(try daemon.jobs().count, 1, "taken once")
        daemon.stop()
    }

    func test_secondDaemonOnTheSameState_alwaysNamesTheHoldersPid() throws {
        let daemon = try DaemonHarness("lock")
        for round in 0..<6 {
            // Two daemons started at the same moment race for the lock; the loser names the winner.
            try? FileManager.default.removeItem(at: daemon.log)
            try daemon.start()
            let first = daemon.process!
            let second = Process()
            second.executableURL = DaemonHarness.binary
            second.arguments = ["daemon", "--config", daemon.config.path]
            let pipe = Pipe()
            second.standardError = pipe
            second.standardOutput = pipe
            try second.run()
            let start = Date()
            while first.isRunning && second.isRunning && Date().timeIntervalSince(start) < 10 { usleep(10_000) }
            if !second.isRunning {
                let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                XCTAssertTrue(output.contains("another augerino daemon (pid \(first.processIdentifier))"), "round \(round): first \(first.processIdentifier), second \(second.processIdentifier): \(output)")
                XCTAssertEqual(daemon.stop().status, 0)
            } else {
                first.waitUntilExit()
                XCTAssertTrue(daemon.logText.contains("another augerino daemon (pid \(second.processIdentifier))"), "round \(round): first \(first.processIdentifier), second \(second.processIdentifier): \(daemon.logText)")
                kill(second.processIdentifier, SIGTERM)
                second.waitUntilExit()
            }
        }
    }
}

/// Bytes from SplitMix64, for large test files.
struct TestRandomBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func data(count: Int) -> Data {
        var data = Data(count: count)
        data.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in words.indices {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                words[i] = z ^ (z >> 31)
            }
        }
        return data
    }
}
