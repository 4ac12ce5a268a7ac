import Foundation
import GRDB
@testable import Pipeline
import TestSupport
import XCTest

final class SQLiteJobQueueTests: XCTestCase {
    var folder: URL!
    var queue: SQLiteJobQueue!
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    override func setUpWithError() throws {
        folder = try makeScratchFolder("queue")
        queue = try SQLiteJobQueue(path: folder.appendingPathComponent("queue.sqlite").path)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    @discardableResult
    func enqueue(_ name: String, hash: String? = nil) throws -> Job {
        try queue.enqueue(name: name, fileName: "\(name).tar.gz", bundlePath: "/spool/\(name)", sha256: hash ?? name, now: now)
    }

    func test_open_usesWALWithFullSync() throws {
        let mode = try queue.database.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        let sync = try queue.database.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
        XCTAssertEqual(mode, "wal")
        XCTAssertEqual(sync, 2, "synchronous=FULL")
    }

    func test_claim_takesJobsInOrder_andMarksThemRunning() throws {
        try enqueue("a"); try enqueue("b")
        let first = try XCTUnwrap(try queue.claimNext(now: now))
        XCTAssertEqual(first.name, "a")
        XCTAssertEqual(first.state, .running)
        XCTAssertEqual(try queue.claimNext(now: now)?.name, "b")
        XCTAssertNil(try queue.claimNext(now: now), "nothing left")
    }

    func test_retryLater_waitsForItsTime_andCountsOnlyTheJobsOwnFailures() throws {
        let job = try enqueue("a")
        _ = try queue.claimNext(now: now)
        try queue.retryLater(id: job.id, error: "diverged", notBefore: now + 60, countsAttempt: true)
        XCTAssertNil(try queue.claimNext(now: now + 59), "not before its time")
        XCTAssertEqual(try queue.claimNext(now: now + 60)?.attempts, 1)
        try queue.retryLater(id: job.id, error: "disk full", notBefore: now + 60, countsAttempt: false)
        let again = try XCTUnwrap(try queue.claimNext(now: now + 61))
        XCTAssertEqual(again.attempts, 1, "a full disk is not the job's fault")
        XCTAssertEqual(again.error, "disk full")
    }

    func test_sameContent_pointsAtTheFirstJob_andWaitsUntilItIsDone() throws {
        let original = try enqueue("a", hash: "h")
        let copy = try enqueue("a-copy", hash: "h")
        XCTAssertEqual(copy.duplicateOf, original.id)
        XCTAssertEqual(try queue.claimNext(now: now)?.id, original.id)
        XCTAssertNil(try queue.claimNext(now: now), "the copy waits while the original runs")
        try queue.complete(id: original.id, resultName: "a", now: now)
        XCTAssertEqual(try queue.claimNext(now: now)?.id, copy.id)
        XCTAssertNil(try enqueue("other", hash: "other").duplicateOf)
    }

    func test_illegalTransitions_areNamedErrors() throws {
        let job = try enqueue("a")
        XCTAssertThrowsError(try queue.retry(id: job.id)) { error in
            XCTAssertEqual("\(error)", "job 1 is queued: cannot retry it (rule: only failed or cancelled jobs can be retried)")
        }
        XCTAssertThrowsError(try queue.complete(id: job.id, resultName: "x", now: now), "a queued job cannot complete")
        XCTAssertThrowsError(try queue.cancel(id: 99, now: now)) { error in
            XCTAssertEqual("\(error)", "job 99: no such job; hint: `augerino jobs` lists them")
            XCTAssertEqual((error as? PipelineError)?.hint, "`augerino jobs` lists them", "the hint is a property, not text to search")
        }
    }

    func test_cancel_queuedAtOnce_runningAtTheNextBatch_andRetryQueuesAgain() throws {
        let a = try enqueue("a"), b = try enqueue("b")
        _ = try queue.claimNext(now: now)
        XCTAssertEqual(try queue.cancel(id: b.id, now: now).state, .cancelled)
        XCTAssertEqual(try queue.cancel(id: a.id, now: now).state, .running, "a running job only gets the request")
        XCTAssertTrue(try queue.isCancelRequested(id: a.id))
        try queue.markCancelled(id: a.id, bundlePath: "/quarantine/a", now: now)
        let retried = try queue.retry(id: a.id)
        XCTAssertEqual(retried.state, .queued)
        XCTAssertFalse(retried.cancelRequested)
        XCTAssertEqual(retried.bundlePath, "/quarantine/a", "the bundle is taken from where it lies")
        XCTAssertEqual(try queue.counts()[.cancelled], 1)
    }

    func test_requeueInterrupted_sendsRunningJobsBack() throws {
        try enqueue("a")
        _ = try queue.claimNext(now: now)
        let reopened = try SQLiteJobQueue(path: queue.path)
        XCTAssertEqual(try reopened.requeueInterrupted().map(\.name), ["a"])
        XCTAssertEqual(try reopened.jobs(state: .queued).count, 1)
    }

    func test_twoConnectionsClaimingAtOnce_neverTakeOneJobTwice() throws {
        for i in 0..<200 { try enqueue("job\(i)") }
        let other = try SQLiteJobQueue(path: queue.path)
        let lock = NSLock()
        nonisolated(unsafe) var ids: [Int64] = []
        let first = queue!, now = self.now
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            let mine = worker % 2 == 0 ? first : other
            while let job = try! mine.claimNext(now: now) { lock.withLock { ids.append(job.id) } }
        }
        XCTAssertEqual(ids.count, 200)
        XCTAssertEqual(Set(ids).count, 200, "no job claimed twice")
    }

    func test_superseding_cancelsAQueuedJob_stopsARunningOne_andMarksAFinishedOne() throws {
        func replacement(of old: Job, _ hash: String) throws -> Job {
            try queue.enqueue(NewJob(name: old.name, fileName: old.fileName, bundlePath: "/spool/\(hash)", sha256: hash, source: "1:2:3:4.5", supersedes: old.id), now: now)
        }
        let queued = try enqueue("queued")
        let newer = try replacement(of: queued, "queued-finished")
        let cancelled = try XCTUnwrap(try queue.job(id: queued.id))
        XCTAssertEqual(cancelled.state, .cancelled)
        XCTAssertEqual(cancelled.supersededBy, newer.id)
        XCTAssertTrue(cancelled.error?.contains("superseded by job \(newer.id)") == true)
        XCTAssertEqual(newer.source, "1:2:3:4.5")
        XCTAssertEqual(try queue.claimNext(now: now)?.id, newer.id, "the superseded job never runs")
        try queue.complete(id: newer.id, resultName: "queued", now: now)

        let running = try enqueue("running")
        _ = try queue.claimNext(now: now)
        let second = try replacement(of: running, "running-finished")
        XCTAssertEqual(try queue.job(id: running.id)?.state, .running)
        XCTAssertTrue(try queue.isCancelRequested(id: running.id), "a running job stops at its next batch")
        XCTAssertEqual(try queue.job(id: running.id)?.supersededBy, second.id)

        let failedJob = try enqueue("failed", hash: "truncated")
        XCTAssertEqual(try queue.claimNext(now: now)?.id, second.id)
        XCTAssertEqual(try queue.claimNext(now: now)?.id, failedJob.id)
        try queue.fail(id: failedJob.id, error: "truncated gzip", bundlePath: "/quarantine/f", now: now)
        let third = try replacement(of: failedJob, "truncated")
        XCTAssertEqual(try queue.job(id: failedJob.id)?.state, .failed)
        XCTAssertEqual(try queue.job(id: failedJob.id)?.supersededBy, third.id)
        XCTAssertNil(third.duplicateOf, "not a duplicate of the job it replaces, even with the same content")
    }

    func test_jobBySource_findsTheNewestJobTakenFromThatFile() throws {
        XCTAssertNil(try queue.job(source: "9:9:1:2.3"))
        _ = try queue.enqueue(NewJob(name: "a", fileName: "a.tar.gz", bundlePath: "/spool/a", sha256: "h1", source: "9:9:1:2.3"), now: now)
        let second = try queue.enqueue(NewJob(name: "a", fileName: "a.tar.gz", bundlePath: "/spool/b", sha256: "h2", source: "9:9:1:2.3"), now: now)
        XCTAssertEqual(try queue.job(source: "9:9:1:2.3")?.id, second.id)
    }

    func test_failureCount_countsFailuresInTheWindowAndUnfinishedJobs_perNameOrAll() throws {
        for name in ["a", "a", "b"] {
            let job = try enqueue(name, hash: UUID().uuidString)
            _ = try queue.claimNext(now: now)
            try queue.fail(id: job.id, error: "bad", bundlePath: "/q", now: now)
        }
        let old = try enqueue("a", hash: "old")
        _ = try queue.claimNext(now: now)
        try queue.fail(id: old.id, error: "bad", bundlePath: "/q", now: now - 7200)
        try enqueue("a", hash: "waiting")
        try enqueue("c", hash: "other")
        XCTAssertEqual(try queue.failureCount(since: now - 3600, fileName: "a.tar.gz"), FailureCount(failed: 2, unfinished: 1))
        XCTAssertEqual(try queue.failureCount(since: now - 3600, fileName: nil), FailureCount(failed: 3, unfinished: 2))
        XCTAssertEqual(try queue.failureCount(since: now - 10_000, fileName: nil).failed, 4)
    }

    func test_aQueueWrittenByTheFirstSchema_isMigrated_andItsJobsKept() throws {
        let path = folder.appendingPathComponent("old.sqlite").path
        let old = try DatabaseQueue(path: path)
        try SQLiteJobQueue.migrator.migrate(old, upTo: "1: jobs")
        try old.write { db in
            try db.execute(sql: "INSERT INTO jobs (name, file_name, bundle_path, sha256, state, created_at) VALUES ('x', 'x.tar.gz', '/s/x', 'h', 'queued', 1)")
        }
        try old.close()
        let upgraded = try SQLiteJobQueue(path: path)
        let job = try XCTUnwrap(try upgraded.jobs(state: nil).first)
        XCTAssertEqual(job.name, "x")
        XCTAssertNil(job.source)
        XCTAssertNil(job.supersededBy)
    }

    func test_openReadOnly_readsTheLiveQueue_writesNothing_andRefusesWrites() throws {
        try enqueue("a")
        let reader = try SQLiteJobQueue.openReadOnly(path: queue.path)
        XCTAssertEqual(try reader.jobs(state: nil).map(\.name), ["a"])
        try enqueue("b")
        XCTAssertEqual(try reader.jobs(state: nil).map(\.name), ["a", "b"], "sees what the writer commits")
        XCTAssertThrowsError(try reader.enqueue(name: "c", fileName: "c", bundlePath: "/c", sha256: "c", now: now), "read only")
    }

    func test_openReadOnly_whenNobodyHasItOpen_readsACopy_andCreatesNothingBesideIt() throws {
        try enqueue("a")
        let path = queue.path
        queue = nil  // the last connection closes: SQLite removes -wal and -shm
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"))
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let reader = try SQLiteJobQueue.openReadOnly(path: path)
        XCTAssertEqual(try reader.jobs(state: nil).map(\.name), ["a"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "the file is untouched")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["queue.sqlite"],
                       "no -wal or -shm owned by the reader, which could stop the daemon's next start")
    }
}
