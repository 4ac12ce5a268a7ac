import Foundation
import Kernels
import Logging
import ServiceLifecycle

/// The daemon: start-up checks, then the inbox service and the workers in one service group
/// until SIGTERM or SIGINT.
///
/// Start-up: create the folders, take the state folder's lock (one daemon per state folder),
/// open the queue, send every job left running by a crash back to the queue (it resumes from
/// its checkpoint), remove temporary folders a crash left in the outbox and stale work
/// folders, then tell systemd READY=1.
public enum Daemon {
    public static func run(_ configuration: DaemonConfiguration, logger: Logger) async throws {
        for folder in [configuration.inbox, configuration.outbox] { try createFolder(folder) }
        let state = StateDirectory(configuration.state)
        try state.create()
        let lock = try state.lock()
        defer { close(lock) }
        let queue = try state.openQueue()
        for job in try queue.requeueInterrupted() {
            logger.notice("job \(job.id) (\(job.fileName)) was interrupted while running; it resumes from its last checkpoint")
        }
        Outbox(configuration.outbox).removeLeftovers()
        if let leftovers = try? FileManager.default.contentsOfDirectory(atPath: state.work.path) {
            for name in leftovers { try? FileManager.default.removeItem(at: state.work.appendingPathComponent(name)) }
        }

        let notifier = SystemdNotifier()
        let cores = try configuration.threads.map(Parallelism.init(threads:)) ?? Parallelism.fromEnvironment()
        let perWorker = configuration.threads == nil ? Parallelism(threads: max(1, cores.threads / configuration.workers)) : cores
        let workers = (0..<configuration.workers).map {
            Worker(index: $0, configuration: configuration, queue: queue, notifier: notifier, logger: logger, parallelism: perWorker)
        }
        let inbox = Inbox(folder: configuration.inbox, state: state, queue: queue, logger: logger,
                          settleTime: configuration.settleTime) { for worker in workers { worker.wake() } }
        let services: [ServiceGroupConfiguration.ServiceConfiguration] =
            [.init(service: InboxService(inbox: inbox, rescanInterval: configuration.rescanInterval, logger: logger),
                   successTerminationBehavior: .gracefullyShutdownGroup)] +
            workers.map {
                .init(service: WorkerService(worker: $0, shutdownTimeout: configuration.shutdownTimeout) { notifier.stopping() },
                      successTerminationBehavior: .gracefullyShutdownGroup)
            }
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(Int((configuration.shutdownTimeout + 1) * 1000))
        let group = ServiceGroup(configuration: groupConfiguration)

        let counts = try queue.counts()
        logger.info("augerino daemon \(getpid()): inbox \(configuration.inbox.path), outbox \(configuration.outbox.path), state \(configuration.state.path) (\(configuration.source)); \(configuration.workers) worker(s) of \(perWorker); \(counts[.queued] ?? 0) job(s) queued")
        notifier.ready(status: "idle, waiting for bundles in \(configuration.inbox.path)")
        try await group.run()
        notifier.stopping()
        logger.info("augerino daemon \(getpid()): stopped")
    }
}
