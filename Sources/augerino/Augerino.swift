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

    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let sentence = negativeJobID(in: arguments) { exit(withError: ValidationError(sentence)) }
        await main(arguments)
    }

    /// `retry -1` and `cancel -1` would read "-1" as an option and say only "Missing expected
    /// argument"; this says what is wrong with it.
    static func negativeJobID(in arguments: [String]) -> String? {
        guard let command = arguments.first, ["retry", "cancel"].contains(command),
              let id = arguments.dropFirst().first(where: { $0.hasPrefix("-") && Int64($0) != nil }) else { return nil }
        return "\(id): a job id is a positive whole number; `augerino jobs` lists them"
    }
}
