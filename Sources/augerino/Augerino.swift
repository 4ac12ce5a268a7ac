import ArgumentParser

/// The `augerino` command line: one subcommand per file in this folder.
@main
struct Augerino: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augerino",
        abstract: "Learns which invariances a dataset has (Benton et al., NeurIPS 2020).",
        discussion: "Run `augerino help <command>` for the options of each command.",
        subcommands: [DaemonCommand.self, Status.self, Jobs.self, Retry.self, Cancel.self, Train.self, Predict.self, ReportCommand.self, Example.self,
                      BundleCommand.self, Bench.self, JobChildCommand.self]
    )
}
