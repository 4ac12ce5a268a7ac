import ArgumentParser
import Foundation
import Pipeline

/// `augerino job-child`: one job for the daemon, in a process of its own (not for people: the
/// daemon starts it with the job on standard input; see `JobChild`).
struct JobChildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job-child",
        abstract: "Run one job for the daemon, confined (started by `augerino daemon`; not for direct use).",
        shouldDisplay: false)

    func run() throws {
        let status = JobChild.run()
        if status != 0 { throw ExitCode(status) }
    }
}
