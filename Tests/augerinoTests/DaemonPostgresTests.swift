// Built with the package trait PostgreSQL only: `swift test --traits PostgreSQL` (the README's test command).
#if PostgreSQL
import Foundation
import Pipeline
import TestSupport
import XCTest

/// The daemon with its queue on a real PostgreSQL server (`PostgresCluster`): a bundle becomes
/// a result, the commands read the server, and a second daemon on the same queue is refused.
final class DaemonPostgresTests: XCTestCase {
    func test_aDaemonOnAPostgresQueue_trainsADroppedBundle_andASecondDaemonOnThatQueueIsRefused() throws {
        let cluster = try PostgresCluster()
        defer { cluster.stop() }
        let daemon = try DaemonHarness("postgres")
        let passwordFile = daemon.root.appendingPathComponent("queue-password")
        try Data((cluster.password + "\n").utf8).write(to: passwordFile)
        let queueSection = "\n[queue]\nurl = \(cluster.url(schema: "e2e"))\npassword_file = queue-password\n"
        let handle = try FileHandle(forWritingTo: daemon.config)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(queueSection.utf8))
        try handle.close()

        try daemon.start()
        daemon.waitUntilReady()
        XCTAssertTrue(daemon.logText.contains("queue postgresql://augerino@127.0.0.1:\(cluster.port)/postgres (schema e2e)"), daemon.logText)
        XCTAssertFalse(daemon.logText.contains(cluster.password), "the password is never logged")
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.state.appendingPathComponent("queue.sqlite").path), "no SQLite queue")
        try daemon.drop(TinyBundle.make(seed: 11, epochs: 2), as: "pg.tar.gz")
        daemon.waitUntil("outbox/pg appears") { FileManager.default.fileExists(atPath: daemon.outbox.appendingPathComponent("pg/model.safetensors").path) }
        daemon.waitUntil("the job is done on the server") {
            let (output, status) = try daemon.command(["jobs", "--json"])
            return status == 0 && output.contains("\"state\" : \"done\"")
        }
        let (status, code) = try daemon.command(["status"])
        XCTAssertEqual(code, 0, status)
        XCTAssertTrue(status.contains("done"), status)

        // A second daemon (its own state folder) on the same queue stops with the rule.
        let second = try DaemonHarness("postgres-second")
        try Data(cluster.password.utf8).write(to: second.root.appendingPathComponent("queue-password"))
        let other = try FileHandle(forWritingTo: second.config)
        try other.seekToEnd()
        try other.write(contentsOf: Data(queueSection.utf8))
        try other.close()
        try second.start()
        second.waitUntil("the second daemon exits") { second.logText.contains("another augerino daemon with host name") }
        XCTAssertNotEqual(second.stop().status, 0, "refused, so it exits with an error")
        XCTAssertEqual(daemon.stop().status, 0)
    }
}
#endif
