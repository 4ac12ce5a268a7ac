import Foundation
import Kernels
import Logging
import ServiceLifecycle

/// The daemon: start-up checks, then the inbox service and the workers in one service group
/// until SIGTERM or SIGINT.
///
/// Start-up: create the folders, take the state folder's lock (one daemon per state folder),
/// open the queue (on a shared queue, take the lock of this daemon's host name), send every
/// job this host name left running back to the queue (it resumes from its checkpoint), remove
/// temporary folders a crash left in the outbox and stale work folders, then tell systemd
/// READY=1.
public enum Daemon {
    /// - Parameter forceExit: ends the process at once with this status, on a second SIGTERM or
    ///   SIGINT (the executable's `exit`; library code never exits).
    public static func run(_ configuration: DaemonConfiguration, logger: Logger, forceExit: @escaping @Sendable (Int32) -> Never) async throws {
        raiseOpenFileLimit()
        let notifier = SystemdNotifier()
        let signals = ShutdownSignals(logger: logger, forceExit: forceExit)
        guard let (state, queue, lock, queueLock) = try startUp(configuration, logger: logger, notifier: notifier, signals: signals) else {
            notifier.stopping()
            logger.info("augerino daemon \(getpid()): stopped before start-up finished")
            return
        }
        defer {
            queueLock?.release()
            close(lock)
        }

        let cores = try configuration.threads.map(Parallelism.init(threads:)) ?? Parallelism.fromEnvironment()
        let perWorker = configuration.threads == nil ? Parallelism(threads: max(1, cores.threads / configuration.workers)) : cores
        let workers = (0..<configuration.workers).map {
            Worker(index: $0, configuration: configuration, queue: queue, notifier: notifier, logger: logger, parallelism: perWorker)
        }
        let inbox = Inbox(configuration: configuration, state: state, queue: queue, logger: logger) { for worker in workers { worker.wake() } }
        let housekeeping = Housekeeping(state: state, outbox: configuration.outboxWriter, configuration: configuration, logger: logger)
        let services: [ServiceGroupConfiguration.ServiceConfiguration] =
            [.init(service: InboxService(inbox: inbox, housekeeping: housekeeping, rescanInterval: configuration.rescanInterval, logger: logger),
                   successTerminationBehavior: .gracefullyShutdownGroup)] +
            workers.map {
                .init(service: WorkerService(worker: $0, shutdownTimeout: configuration.shutdownTimeout) { notifier.stopping() },
                      successTerminationBehavior: .gracefullyShutdownGroup)
            }
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(Int((configuration.shutdownTimeout + 1) * 1000))
        let group = ServiceGroup(configuration: groupConfiguration)
        signals.whenStopRequested { Task { await group.triggerGracefulShutdown() } }

        let queued = (try? queue.counts())?[.queued] ?? 0
        let queueText = (queue as? any SharedJobQueue).map { ", queue \($0.location)" } ?? ""
        logger.info("augerino daemon \(getpid()): inbox \(configuration.inbox.path), outbox \(configuration.outbox.path), state \(configuration.state.path)\(queueText) (\(configuration.source)); \(configuration.workers) worker(s) of \(perWorker); \(queued) job(s) queued")
        notifier.idleStatus = "idle, waiting for bundles in \(configuration.inbox.path)"
        notifier.ready(status: notifier.idleStatus)
        try await group.run()
        notifier.stopping()
        logger.info("augerino daemon \(getpid()): stopped")
    }

    /// The start-up steps, tried again with backoff while the folders or the queue cannot be
    /// written (a read-only or full state folder), so the daemon stays up and starts once the
    /// storage is fixed. Returns nil when SIGTERM or SIGINT came first.
    /// - Throws: `PipelineError.stateLocked` (another daemon runs on this state folder) or
    ///   `.queueLocked` (another daemon of this host name uses this PostgreSQL queue).
    static func startUp(_ configuration: DaemonConfiguration, logger: Logger, notifier: SystemdNotifier, signals: ShutdownSignals) throws
        -> (StateDirectory, any JobQueue, Int32, (any DaemonQueueLock)?)? {
        var delay = 1.0
        while !signals.isStopRequested {
            var lock: Int32 = -1
            do {
                for folder in [configuration.inbox, configuration.outbox] { try createFolder(folder) }
                let state = configuration.stateDirectory
                try state.create()
                lock = try state.lock()
                let queue = try configuration.openQueue(state: state)
                // A shared queue: one daemon per host name, since the next line takes back every job its name held.
                let queueLock = try (queue as? any SharedJobQueue)?.takeDaemonLock(host: configuration.hostName)
                for job in try queue.requeueInterrupted(host: configuration.hostName) {
                    logger.notice("job \(job.id) (\(job.fileName)) was interrupted while running; it resumes from its last checkpoint")
                }
                configuration.outboxWriter.removeLeftovers()
                for name in state.removeInterruptedCopies() {
                    logger.notice("removed spool/\(name), a copy from the inbox that a stop interrupted; its file is still in the inbox and is taken again")
                }
                // A crash between a job's completion and the removal of its bundle leaves the bundle behind.
                for job in try queue.jobs(state: .done) where state.isInSpool(job.bundlePath) { unlink(job.bundlePath) }
                if let leftovers = try? FileManager.default.contentsOfDirectory(atPath: state.work.path) {
                    for name in leftovers { try? FileManager.default.removeItem(at: state.work.appendingPathComponent(name)) }
                }
                return (state, queue, lock, queueLock)
            } catch let error as PipelineError {
                if lock >= 0 { close(lock) }
                if case .stateLocked = error { throw error }
                if case .queueLocked = error { throw error }
                logger.error("cannot start: \(error); trying again in \(Int(delay)) s")
                notifier.status("cannot start: \(error)")
            } catch {
                if lock >= 0 { close(lock) }
                logger.error("cannot start: the queue \(StateDirectory(configuration.state).queuePath) cannot be opened: \(error); trying again in \(Int(delay)) s")
                notifier.status("cannot start: \(error)")
            }
            _ = signals.stopped.wait(timeout: .now() + delay)
            delay = min(delay * 2, 10)
        }
        return nil
    }
}

/// Raises the soft limit on open files to the hard one: the inbox keeps the descriptors of
/// recently taken files (`rewrite_window`), one per file.
func raiseOpenFileLimit() {
    var limit = rlimit()
    let resource = Int32(RLIMIT_NOFILE.rawValue)
    guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(resource, &limit)
}
