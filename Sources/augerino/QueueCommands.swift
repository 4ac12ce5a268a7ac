import ArgumentParser
import Bundle
import Foundation
import Pipeline

/// The queue of the daemon that `--config` names, opened to change it (`retry`, `cancel`).
private func openQueue(_ option: ConfigOption) throws -> (DaemonConfiguration, StateDirectory, any JobQueue) {
    let (configuration, state) = try stateFolder(option)
    return (configuration, state, try configuration.openQueue(state: state))
}

/// The same queue opened for reading only (`status`, `jobs`), so these work on a read-only
/// state folder and for a user who may only read it.
private func readQueue(_ option: ConfigOption) throws -> (DaemonConfiguration, StateDirectory, any JobQueue) {
    let (configuration, state) = try stateFolder(option)
    return (configuration, state, try configuration.openQueueForReading(state: state))
}

private func stateFolder(_ option: ConfigOption) throws -> (DaemonConfiguration, StateDirectory) {
    let configuration = try option.load()
    let state = configuration.stateDirectory
    guard case .sqlite = configuration.queue else { return (configuration, state) }  // the queue is on its server
    guard FileManager.default.fileExists(atPath: state.queuePath) else {
        throw ValidationError("\(state.queuePath): no queue here yet; start `augerino daemon` with this configuration (\(configuration.source)) first")
    }
    return (configuration, state)
}

/// "3m05s", "42s".
func durationText(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60) : "\(s)s"
}

func progressText(_ progress: JobProgress) -> String {
    var text = progress.phase.map { String(format: "trained %d epochs; %@: %.0f%%", progress.epochs, $0 as NSString, progress.fraction * 100) }
        ?? String(format: "epoch %d/%d, batch %d/%d (%.0f%%)", progress.epoch, progress.epochs, progress.batch, progress.batches, progress.fraction * 100)
    if let eta = progress.etaSeconds { text += ", ETA \(durationText(eta))" }
    return text
}

/// Who holds a running job, and for how long: "host-a pid 4242, lease 45s left"; an expired
/// lease says that the next claim (on any host) takes the job back.
func leaseText(_ job: Job, now: Date = Date()) -> String {
    guard let lease = job.lease else { return "no lease" }
    let left = lease.expiresAt.timeIntervalSince(now)
    let holder = "\(lease.host.escapingControlCharacters) pid \(lease.pid)"
    return left >= 0 ? "\(holder), lease \(durationText(left)) left" : "\(holder), lease expired \(durationText(-left)) ago (the next claim takes it back)"
}

/// `augerino status`
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show whether the daemon runs, the queue's counts, and the running jobs with their host, progress and ETA.")
    @OptionGroup var configOption: ConfigOption

    func run() throws {
        let (configuration, state, queue) = try readQueue(configOption)
        switch state.runningDaemon() {
        case nil: print("daemon: not running (state \(configuration.state.path))")
        case let pid?: print("daemon: running, pid \(pid) (state \(configuration.state.path))")
        }
        let counts = try queue.counts()
        print("queue: " + JobState.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", "))
        for job in try queue.jobs(state: .running) {
            print("running: job \(job.id) (\(job.name.escapingControlCharacters)) on \(leaseText(job)): " + (job.progress.map(progressText) ?? "starting")
                  + (job.cancelRequested ? " — cancel requested" : ""))
        }
        for job in try queue.jobs(state: .queued) where job.error != nil {
            print("waiting: job \(job.id) (\(job.name)) retries\(job.notBefore.map { " at \(ISO8601DateFormatter().string(from: $0))" } ?? ""): \(job.error!.escapingControlCharacters)")
        }
    }
}

extension JobState: ExpressibleByArgument {}

/// `augerino jobs`
struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the jobs, oldest first.")
    @OptionGroup var configOption: ConfigOption
    @Option(help: "Only jobs in this state: queued, running, done, failed or cancelled.") var state: JobState?
    @Flag(help: "One JSON array of jobs (the fields of docs/operations.md).") var json = false

    func run() throws {
        let (_, _, queue) = try readQueue(configOption)
        let jobs = try queue.jobs(state: state)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(jobs), as: UTF8.self))
            return
        }
        print("ID".padding(toLength: 6, withPad: " ", startingAt: 0) + "STATE".padding(toLength: 10, withPad: " ", startingAt: 0)
              + "NAME".padding(toLength: 24, withPad: " ", startingAt: 0) + "DETAIL")
        for job in jobs {
            let detail: String
            switch job.state {
            case .done: detail = "outbox/\(job.resultName ?? "?")" + (job.duplicateOf.map { " (same content as job \($0))" } ?? "")
            case .running: detail = "\(leaseText(job)): " + (job.progress.map(progressText) ?? "starting")
            case .queued: detail = job.duplicateOf.map { "waits for job \($0) (same content)" } ?? job.error.map { "retry after: \($0)" } ?? "waiting"
            case .failed: detail = job.supersededBy.map { "superseded by job \($0) (its file was not finished when taken): " } .map { $0 + (job.error ?? "") } ?? job.error ?? ""
            case .cancelled: detail = job.supersededBy.map { "superseded by job \($0) (its file was not finished when taken)" } ?? "bundle kept at \(job.bundlePath)"
            }
            // Names and errors come from users' files: control characters are shown escaped,
            // so a name cannot forge a row (`--json` has the exact text).
            print(String(job.id).padding(toLength: 6, withPad: " ", startingAt: 0) + job.state.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + job.name.escapingControlCharacters.padding(toLength: 24, withPad: " ", startingAt: 0) + detail.escapingControlCharacters)
        }
    }
}

/// A request the queue cannot carry out (not a usage error): printed as `Error: …`, exit 1.
private struct QueueCommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `augerino retry`
struct Retry: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Queue a failed or cancelled job again (attempts start from zero).")
    @OptionGroup var configOption: ConfigOption
    @Argument(help: "The job's id (see `augerino jobs`).") var id: Int64

    func run() throws {
        let (_, _, queue) = try openQueue(configOption)
        if let job = try queue.job(id: id), job.state == .failed || job.state == .cancelled,
           !FileManager.default.fileExists(atPath: job.bundlePath) {
            throw QueueCommandError("job \(id) (\(job.fileName.escapingControlCharacters)): its bundle is no longer kept (\(job.bundlePath) was removed, by quarantine_retention or quarantine_max_size in daemon.conf, or superseded); drop the bundle into the inbox again")
        }
        let job = try queue.retry(id: id)
        print("job \(job.id) (\(job.name)) queued again")
    }
}

/// `augerino cancel`
struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a queued job, or stop a running one at its next batch.")
    @OptionGroup var configOption: ConfigOption
    @Argument(help: "The job's id (see `augerino jobs`).") var id: Int64

    func run() throws {
        let (_, _, queue) = try openQueue(configOption)
        let job = try queue.cancel(id: id, now: Date())
        print(job.state == .cancelled ? "job \(job.id) (\(job.name)) cancelled; the daemon moves its bundle to quarantine (`augerino retry \(job.id)` queues it again)"
                                      : "job \(job.id) (\(job.name)) stops at its next batch")
    }
}
