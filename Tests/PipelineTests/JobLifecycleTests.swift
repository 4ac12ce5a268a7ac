import Foundation
@testable import Pipeline
import TestSupport
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
        try assertGeneratedSection("lifecycle table", of: "docs/operations.md", is: JobLifecycle.markdownTable)
    }
}
