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
        let mode = try queue.pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        let sync = try queue.pool.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
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
            XCTAssertEqual("\(error)", "job 99: no such job; `augerino jobs` lists them")
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
}
