import ArgumentParser
import Foundation
import Logging
import Pipeline

/// `--config FILE`, shared by the daemon and the commands that read its state.
struct ConfigOption: ParsableArguments {
    @Option(help: "daemon.conf to read (default: ./daemon.conf; built-in defaults under the current folder when that is missing).")
    var config: String?

    func load() throws -> DaemonConfiguration {
        if let config { return try DaemonConfiguration.load(URL(fileURLWithPath: config)) }
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let file = here.appendingPathComponent("daemon.conf")
        return FileManager.default.fileExists(atPath: file.path) ? try DaemonConfiguration.load(file) : DaemonConfiguration(folder: here)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `augerino daemon`: watches the inbox, trains every bundle, publishes to the outbox.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Watch the inbox, train every bundle dropped there, and publish results to the outbox.",
        discussion: """
            Reads daemon.conf (docs/configuration.md); the flags below override it. Runs until \
            SIGTERM or SIGINT: the running job stops at its next batch and resumes from its last \
            checkpoint at the next start. Speaks systemd's notify protocol when $NOTIFY_SOCKET is \
            set (deploy/augerino.service; docs/operations.md).
            """)

    @OptionGroup var configOption: ConfigOption
    @Option(help: "Inbox folder (overrides `inbox`).") var inbox: String?
    @Option(help: "Outbox folder (overrides `outbox`).") var outbox: String?
    @Option(help: "State folder: queue, spool, checkpoints (overrides `state`).") var state: String?
    @Option(help: "Jobs trained at once (overrides [daemon] workers).") var workers: Int?
    @Option(help: "Kernel threads per worker, 0 to 1024 (overrides [daemon] threads; 0: all cores, or AUGERINO_THREADS, divided among the workers).") var threads: Int?
    @Option(help: "trace, debug, info, notice, warning, error or critical (overrides [daemon] log_level).") var logLevel: Logger.Level?

    func validate() throws {
        if let workers, !(1...64).contains(workers) { throw ValidationError("--workers \(workers): must be from 1 to 64") }
        if let threads, !(0...1024).contains(threads) { throw ValidationError("--threads \(threads): must be from 0 (all cores) to 1024") }
    }

    func run() async throws {
        var configuration = try configOption.load()
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        func path(_ value: String) -> URL { value.hasPrefix("/") ? URL(fileURLWithPath: value) : here.appendingPathComponent(value) }
        if let inbox { configuration.inbox = path(inbox) }
        if let outbox { configuration.outbox = path(outbox) }
        if let state { configuration.state = path(state) }
        if let workers { configuration.workers = workers }
        if let threads { configuration.threads = threads == 0 ? nil : threads }
        if let logLevel { configuration.logLevel = logLevel }
        let level = configuration.logLevel
        // Control characters in dropped files' names are shown escaped, so no name forges a line.
        LoggingSystem.bootstrap { label in EscapingLogHandler.standardError(label: label, level: level) }
        try await Daemon.run(configuration, logger: Logger(label: "augerino"), forceExit: { status in Foundation.exit(status) })
    }
}
