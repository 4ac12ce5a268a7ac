// Built with the package trait PostgreSQL only: `swift test --traits PostgreSQL` (the README's test command).
#if PostgreSQL
import Foundation
import Synchronization
@testable import Pipeline
import TestSupport
import XCTest

/// The PostgreSQL backend against a real server (`PostgresCluster`): the same contract as
/// SQLite (`JobQueueConformance`), its migrations, and its errors.
final class PostgresJobQueueTests: XCTestCase {
    /// One server for the class; XCTest calls class setUp and tearDown on one thread.
    nonisolated(unsafe) private static var cluster: PostgresCluster?
    nonisolated(unsafe) private static var skip: XCTSkip?
    var conformance: JobQueueConformance!

    override class func setUp() {
        do { cluster = try PostgresCluster() } catch let reason as XCTSkip { skip = reason } catch { skip = XCTSkip("\(error)") }
    }

    override class func tearDown() {
        cluster?.stop()
        cluster = nil
    }

    /// Settings for a schema of its own on the test server, over TCP with the password.
    func settings(schema: String = "q_\(UUID().uuidString.prefix(8).lowercased())") throws -> PostgresQueueSettings {
        if let skip = Self.skip { throw skip }
        let cluster = try XCTUnwrap(Self.cluster)
        return PostgresQueueSettings(endpoint: .tcp(host: "127.0.0.1", port: cluster.port), user: cluster.user, database: "postgres",
                                     schema: schema, password: cluster.password)
    }

    override func setUpWithError() throws {
        let make = { [self] in try PostgresJobQueue(try settings()) }
        conformance = JobQueueConformance(open: make, reopen: { try PostgresJobQueue(($0 as! PostgresJobQueue).settings) })
        _ = try settings()  // skips every test, with the sentence, where no server could start
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

    /// Migrations are applied once, recorded, and two daemons opening a new schema at once do not race.
    func test_migrations_areAppliedOnce_evenByTwoOpeningAtOnce() throws {
        let shared = try settings()
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            do { _ = try PostgresJobQueue(shared) } catch { failures.withLock { $0.append("\(error)") } }
        }
        XCTAssertEqual(failures.withLock { $0 }, [], "four daemons opening one new schema at once")
        let queue = try PostgresJobQueue(shared)
        XCTAssertEqual(try queue.appliedMigrations(), PostgresJobQueue.migrations.map(\.version))
        try conformance.enqueue(queue, "kept")
        XCTAssertEqual(try PostgresJobQueue(shared).jobs(state: nil).map(\.name), ["kept"], "reopening keeps the jobs")
    }

    /// `status` and `jobs` open the queue without creating or migrating anything.
    func test_openReadOnly_createsNothing_andSaysWhenThereIsNoQueueYet() throws {
        let fresh = try settings()
        XCTAssertThrowsError(try PostgresJobQueue.openReadOnly(fresh)) { error in
            XCTAssertTrue("\(error)".contains("no queue in this schema yet; hint: start `augerino daemon`"), "\(error)")
        }
        XCTAssertThrowsError(try PostgresJobQueue.openReadOnly(fresh), "still none: the first opening created nothing")
        let writer = try PostgresJobQueue(fresh)
        try conformance.enqueue(writer, "a")
        XCTAssertEqual(try PostgresJobQueue.openReadOnly(fresh).jobs(state: nil).map(\.name), ["a"])
    }

    /// A wrong password or a server that is gone is the queue's error, naming the server, never the password.
    func test_errors_nameTheServerAndTheStep_neverThePassword() throws {
        var wrong = try settings()
        wrong.password = "not-the-password"
        XCTAssertThrowsError(try PostgresJobQueue(wrong)) { error in
            guard case .queue(let location, let step, let reason)? = error as? PipelineError else { return XCTFail("\(error)") }
            XCTAssertEqual(location, wrong.location)
            XCTAssertEqual(step, "migrate the schema")
            XCTAssertTrue(reason.contains("password"), reason)
            XCTAssertFalse("\(error)".contains("not-the-password"), "\(error)")
            XCTAssertEqual(JobFault.of(error), .machine)
        }
        var nobody = try settings()
        nobody.endpoint = .tcp(host: "127.0.0.1", port: try PostgresCluster.freePort())
        XCTAssertThrowsError(try PostgresJobQueue(nobody)) { error in
            XCTAssertTrue("\(error)".hasPrefix("the job queue postgresql://augerino@127.0.0.1:"), "\(error)")
        }
    }
}

final class PostgresQueueSettingsTests: XCTestCase {
    func test_parse_readsTheURL_andRefusesAPasswordInIt() throws {
        let tcp = try PostgresQueueSettings.parse(url: "postgresql://augerino@db.example:6543/jobs?schema=team_a&tls=require").get()
        XCTAssertEqual(tcp, PostgresQueueSettings(endpoint: .tcp(host: "db.example", port: 6543), user: "augerino", database: "jobs", schema: "team_a", tls: .require))
        XCTAssertEqual(tcp.location, "postgresql://augerino@db.example:6543/jobs (schema team_a)")
        let socket = try PostgresQueueSettings.parse(url: "postgres://augerino@/jobs?host=/run/postgresql").get()
        XCTAssertEqual(socket.endpoint, .socket(folder: "/run/postgresql", port: 5432))
        XCTAssertEqual(socket.socketPath, "/run/postgresql/.s.PGSQL.5432")
        let refused: [(String, String)] = [
            ("postgresql://augerino:secret@db/jobs", "must not hold the password"),
            ("mysql://a@db/jobs", "must be a URL postgresql://USER@HOST[:PORT]/DATABASE"),
            ("postgresql://db/jobs", "names no user"),
            ("postgresql://a@db/", "names no database"),
            ("postgresql://a@db/jobs?schema=1x", "schema \"1x\" must be"),
            ("postgresql://a@db/jobs?sslmode=off", "has the parameter \"sslmode\""),
            ("postgresql://a@db/jobs?tls=maybe", "tls must be disable, prefer, require"),
        ]
        for (url, rule) in refused {
            guard case .failure(let broken) = PostgresQueueSettings.parse(url: url) else { XCTFail("\(url) was accepted"); continue }
            XCTAssertTrue(broken.rule.contains(rule), "«\(url)» gave «\(broken.rule)»")
            XCTAssertFalse(broken.rule.contains("secret"), "the password is never repeated")
        }
    }
}
#endif
