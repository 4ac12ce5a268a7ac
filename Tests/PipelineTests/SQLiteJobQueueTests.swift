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

    /// The engine's own errors reach the worker as the pipeline's (`PipelineError.queue`,
    /// a fault of the machine), naming the queue's file and the step.
    func test_engineErrors_arriveAsPipelineErrors_namingTheFileAndTheStep() throws {
        try enqueue("a")
        let path = queue.path
        queue = nil
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))  // no longer a database
        XCTAssertThrowsError(try SQLiteJobQueue(path: path), "a file that is not a database does not open")
        let working = try SQLiteJobQueue(path: folder.appendingPathComponent("q2.sqlite").path)
        try working.database.write { db in try db.execute(sql: "DROP TABLE jobs") }
        XCTAssertThrowsError(try working.claimNext(now: now, holder: LeaseHolder(host: "h", duration: 60))) { error in
            guard case .queue(let location, let step, let reason)? = error as? PipelineError else { return XCTFail("\(error)") }
            XCTAssertEqual(location, working.path)
            XCTAssertEqual(step, "claim a job")
            XCTAssertTrue(reason.contains("no such table"), reason)
            XCTAssertEqual(JobFault.of(error), .machine, "the queue's failure is not the job's")
        }
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

/// The backend-independent contract (`JobQueueConformance`) on SQLite.
final class SQLiteJobQueueConformanceTests: XCTestCase {
    var conformance: JobQueueConformance!

    override func setUpWithError() throws {
        let folder = try makeScratchFolder("conformance")
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        conformance = JobQueueConformance(open: { try SQLiteJobQueue(path: folder.appendingPathComponent("\(UUID().uuidString).sqlite").path) },
                                          reopen: { try SQLiteJobQueue(path: ($0 as! SQLiteJobQueue).path) })
    }

    func test_everyMove_followsTheLifecycleTable() throws { try conformance.everyMove_followsTheLifecycleTable() }
    func test_claims_takeJobsInOrder_andProgressIsKeptWhileRunning() throws { try conformance.claims_takeJobsInOrder_andProgressIsKeptWhileRunning() }
    func test_retryLater_waitsForItsTime_andCountsOnlyTheJobsOwnFailures() throws { try conformance.retryLater_waitsForItsTime_andCountsOnlyTheJobsOwnFailures() }
    func test_sameContent_pointsAtTheFirstJob_andWaitsUntilItIsFinished() throws { try conformance.sameContent_pointsAtTheFirstJob_andWaitsUntilItIsFinished() }
    func test_cancel_queuedAtOnce_runningAtTheNextBatch_andRetryQueuesAgain() throws { try conformance.cancel_queuedAtOnce_runningAtTheNextBatch_andRetryQueuesAgain() }
    func test_interruptedJobs_goBackToTheQueue_fromAnotherConnection() throws { try conformance.interruptedJobs_goBackToTheQueue_fromAnotherConnection() }
    func test_expiredLeases_passTheJobToTheNextClaimer_andFenceTheOldHolder() throws { try conformance.expiredLeases_passTheJobToTheNextClaimer_andFenceTheOldHolder() }
    func test_interruptedJobs_areOnlyThoseOfTheHostThatStartsAgain() throws { try conformance.interruptedJobs_areOnlyThoseOfTheHostThatStartsAgain() }
    func test_twoConnectionsClaimingAtOnce_neverTakeOneJobTwice() throws { try conformance.twoConnectionsClaimingAtOnce_neverTakeOneJobTwice() }
    func test_superseding_cancelsAQueuedJob_stopsARunningOne_andMarksAFinishedOne() throws { try conformance.superseding_cancelsAQueuedJob_stopsARunningOne_andMarksAFinishedOne() }
    func test_theSameInboxFileTakenByTwoHosts_isOneJob() throws { try conformance.theSameInboxFileTakenByTwoHosts_isOneJob() }
    func test_jobBySource_findsTheNewestJobTakenFromThatFile() throws { try conformance.jobBySource_findsTheNewestJobTakenFromThatFile() }
    func test_failureCount_countsFailuresInTheWindowAndUnfinishedJobs_perNameOrAll() throws { try conformance.failureCount_countsFailuresInTheWindowAndUnfinishedJobs_perNameOrAll() }
}
