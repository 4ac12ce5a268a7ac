import Foundation
@testable import Pipeline
import XCTest

/// The lifecycle table itself: the promises users read in docs/operations.md.
final class JobLifecycleTests: XCTestCase {
    func test_theTableKeepsTheLifecyclesPromises() {
        let table = JobLifecycle.table
        XCTAssertEqual(Set(table.keys), Set(JobAction.allCases), "every action has a row")
        // Only a claim starts a job; only the worker's own moves end a running one.
        for (action, moves) in table {
            for (from, to) in moves where to == .running && from != .running { XCTAssertEqual(action, .claim, "\(action) starts a job") }
            for (from, to) in moves where from == .running && [.done, .failed, .cancelled].contains(to) {
                XCTAssertTrue([.complete, .fail, .markCancelled].contains(action), "\(action) ends a running job behind its worker's back")
            }
        }
        // A finished job changes state only when a user retries it; done is final.
        for state in [JobState.done, .failed, .cancelled] {
            for (action, moves) in table { if let to = moves[state], to != state { XCTAssertEqual(action, .retry, "\(action) moves a \(state) job") } }
        }
        XCTAssertNil(table[.retry]?[.done], "a done job has its result: retrying it would train again")
        // Every state is reachable from queued.
        var reached: Set<JobState> = [.queued], frontier: [JobState] = [.queued]
        while let state = frontier.popLast() {
            for moves in table.values { if let to = moves[state], reached.insert(to).inserted { frontier.append(to) } }
        }
        XCTAssertEqual(reached, Set(JobState.allCases))
        XCTAssertEqual(JobLifecycle.rule(.retry), "only failed or cancelled jobs can be retried")
        XCTAssertEqual(JobLifecycle.rule(.cancel), "only queued or running jobs can be cancelled")
    }

    /// docs/operations.md shows the table as the code has it (AUGERINO_UPDATE_GOLDEN=1 rewrites it).
    func test_theDocumentationShowsTheTable() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/operations.md").standardized
        let text = try String(contentsOf: doc, encoding: .utf8)
        let begin = "<!-- lifecycle table: generated from JobLifecycle; a test checks it -->\n", end = "\n<!-- end of lifecycle table -->"
        guard let start = text.range(of: begin), let stop = text.range(of: end, range: start.upperBound..<text.endIndex) else {
            return XCTFail("\(doc.path) lacks the lifecycle table's markers")
        }
        if String(text[start.upperBound..<stop.lowerBound]) != JobLifecycle.markdownTable, ProcessInfo.processInfo.environment["AUGERINO_UPDATE_GOLDEN"] == "1" {
            try (text[..<start.upperBound] + JobLifecycle.markdownTable + text[stop.lowerBound...]).write(to: doc, atomically: true, encoding: .utf8)
            return
        }
        XCTAssertEqual(String(text[start.upperBound..<stop.lowerBound]), JobLifecycle.markdownTable, "run with AUGERINO_UPDATE_GOLDEN=1 to rewrite it")
    }
}
