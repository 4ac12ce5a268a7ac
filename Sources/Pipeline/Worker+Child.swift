import Foundation
import Logging
import Synchronization

/// Supervising one job's child process: its events become progress in the queue, STATUS= and
/// log lines; a cancel or a stop becomes SIGTERM (SIGKILL after `shutdown_timeout`); silence
/// past `[job] silence_limit` ends it; and how it ended becomes the job's outcome, with a plain
/// reason when it crashed or hit a limit, naming the step it was in.
extension Worker {
    /// How a job's child ended, for the worker.
    enum ChildOutcome {
        /// The result's files are in this folder.
        case done(URL)
        /// It stopped on request: for a cancel, or for the daemon's stop.
        case stopped(cancelled: Bool)
        case failed(JobFault, stage: String, message: String, hint: String? = nil)
        /// The worker lost the job's lease while it ran (it was stopped): `reason` says how.
        case leaseLost(String)
    }

    func runConfined(_ job: Job) -> ChildOutcome {
        let work = state.workFolder(job.claim)
        try? FileManager.default.removeItem(at: work)
        do { try createFolder(work, mode: 0o700) } catch { return .failed(.machine, stage: "extract", message: "\(error)") }
        let spec = JobSpec(job: job.id, name: job.name, fileName: job.fileName, sha256: job.sha256, bundlePath: job.bundlePath,
                           workFolder: work.path, checkpointPath: state.checkpoint(job.claim).path,
                           resumePath: state.checkpoints(job: job.id).first?.path,
                           bundleLimits: JobSpec.Limits(configuration.bundleLimits), training: configuration.training,
                           threads: parallelism.threads, confinement: configuration.effectiveJobLimits)
        let child = ConfinedJob(spec: spec, executable: executable)
        do { try child.start() } catch { return .failed(.machine, stage: "start", message: "\(error)") }
        notifier.worker(index, status: "job \(job.id) (\(job.name)): unpacking")

        var stage = "extract", detail: String? = nil
        var final: JobEvent?
        var lastWord = Date()
        var stopAsked: Date?, cancelled = false, hung = false, killed = false
        // Every exchange with the queue on a thread of its own: a queue that does not answer
        // never holds up this loop (the child's events, its stop, the lease's deadline).
        let link = RunningJobLink(job: job, duration: configuration.leaseDuration, queue: queue, logger: logger) { [self] in
            quarantineBundlesCancelledWhileQueued()  // jobs cancelled while they wait do not wait for this one to end
        }
        defer { link.finish() }
        while !child.ended {
            notifier.watchdog()  // the daemon is alive, whatever the child does
            let now = Date()
            if let asked = stopAsked {
                if !killed && now.timeIntervalSince(asked) > configuration.shutdownTimeout {
                    child.kill()
                    killed = true
                }
            } else if isStopping {
                child.askToStop()
                stopAsked = now
            } else if now.timeIntervalSince(lastWord) > configuration.jobSilenceLimit {
                hung = true
                child.kill()
                (stopAsked, killed) = (now, true)
            } else if link.isCancelRequested {
                cancelled = true
                child.askToStop()
                stopAsked = now
            } else if link.leaseLost(now: now) != nil {
                child.askToStop()
                stopAsked = now
            }
            guard let event = child.next(timeout: 0.25) else { continue }
            lastWord = Date()
            switch event.kind {
            case .stage:
                (stage, detail) = (event.stage ?? stage, event.detail)
                notifier.worker(index, status: "job \(job.id) (\(job.name)): \(stage)\(detail.map { " \($0)" } ?? "")")
            case .log:
                logger.log(level: event.level.flatMap(Logger.Level.init(rawValue:)) ?? .info, "\(event.message ?? "")")
            case .progress:
                guard let progress = event.progress else { break }
                link.record(progress)
                notifier.worker(index, status: String(format: "job %lld (%@): %@, %.0f%%, ETA %.0f s", job.id, job.name,
                                                      progress.phase ?? "epoch \(progress.epoch)/\(progress.epochs)",
                                                      progress.fraction * 100, progress.etaSeconds ?? 0))
            case .epoch:
                if let progress = event.progress { link.record(progress) }
                logger.info("\(event.message ?? "job \(job.id): an epoch finished")")
            case .done, .failed, .stopped:
                final = event
            }
        }
        let termination = child.waitForExit()
        if let reason = link.leaseLost() { return .leaseLost(reason) }

        if let final {
            switch final.kind {
            case .done: return .done(spec.resultFolder)
            case .stopped: return .stopped(cancelled: cancelled)
            default:
                return .failed(final.fault.flatMap(JobFault.init(rawValue:)) ?? .training, stage: final.stage ?? stage,
                               message: final.message ?? "\(job.fileName): the job failed without saying why", hint: final.hint)
            }
        }
        if stopAsked != nil && !hung { return .stopped(cancelled: cancelled) }  // ended after we asked it to stop
        let step = detail.map { "\(stage) (\($0))" } ?? stage
        return .failed(.process, stage: stage, message: "\(job.fileName): " + Self.explain(termination, step: step, hung: hung, tail: child.errorTail(),
                                                                                          configuration: configuration))
    }

    /// Why a child that sent no final event ended, as a sentence.
    static func explain(_ termination: ConfinedJob.Termination, step: String, hung: Bool, tail: String, configuration: DaemonConfiguration) -> String {
        let limits = configuration.effectiveJobLimits
        let size = byteSize
        let lower = tail.lowercased()
        let outOfMemory = ["failed to allocate", "could not allocate", "cannot allocate", "out of memory", "allocation failed", "bad_alloc"].contains { lower.contains($0) }
        let said = tail.isEmpty ? "" : " (its last words: \(tail))"
        if hung {
            return "the job said nothing for \(Int(configuration.jobSilenceLimit)) s while \(step) and was ended (rule: [job] silence_limit); " +
                "hint: if the bundle is simply that large, raise silence_limit in daemon.conf"
        }
        switch termination {
        case .signal(SIGXCPU):
            return "the job used up its CPU-time limit of \(limits.cpuSeconds) s while \(step) (rule: [job] cpu_limit); hint: raise cpu_limit in daemon.conf for bundles this large"
        case .signal(SIGXFSZ):
            return "the job tried to write a file larger than its \(size(limits.fileSize)) limit while \(step) (rule: [job] file_size_limit); hint: raise file_size_limit or [bundle] max_member_size in daemon.conf"
        case _ where outOfMemory:
            return "the job exceeded its \(size(limits.memory)) memory limit while \(step) (rule: [job] memory_limit)\(said); hint: the bundle needs more memory than the daemon allows a job; raise memory_limit in daemon.conf, or make the bundle smaller"
        case .signal(SIGKILL):
            return "the job's process was killed (SIGKILL, from outside the daemon: the kernel's out-of-memory killer, or an operator) while \(step)\(said)"
        case .signal(SIGSYS):
            return "the job's process made a system call its confinement forbids while \(step) (SIGSYS)\(said)"
        case .signal(let number):
            return "the job's process crashed (\(ConfinedJob.signalName(number))) while \(step)\(said); hint: this is a defect of augerino's; please report it with the bundle"
        case .exit(let code):
            return "the job's process ended with status \(code) without a result while \(step)\(said)"
        }
    }
}

/// A running job's side of the queue, on a thread of its own while the worker supervises the
/// job, so that a queue that does not answer (a server cut off by the network waits up to
/// `PostgresJobQueue.answerTimeout` per statement) never holds up the supervisor: every quarter
/// second it records the newest progress, reads the cancel request and runs `sweep`; every
/// quarter of the lease's duration (every sixteenth after a failed try) it renews the lease.
/// The lease is lost when the queue says it is no longer the worker's, or when no renewal got
/// through and the lease is an eighth of its duration from running out; the supervisor asks
/// `leaseLost` four times a second and stops the job then, so the job has stopped before
/// another host may take it.
final class RunningJobLink: Sendable {
    let claim: JobClaim
    let duration: TimeInterval
    private struct State {
        /// When the lease runs out unless renewed, as far as this worker knows.
        var expiresAt: Date
        /// Why the lease was lost; nil while held.
        var lost: String?
        var lastError: String?
        /// When the renewal under way began (one that hangs on a server that does not answer).
        var renewalSince: Date?
        var cancelRequested = false
        /// Progress not yet recorded.
        var progress: JobProgress?
        var finished = false
    }
    private let state: Mutex<State>
    private let wake = DispatchSemaphore(value: 0)

    /// Starts the link for `job`, just claimed from `queue`.
    init(job: Job, duration: TimeInterval, queue: any JobQueue, logger: Logger, sweep: @escaping @Sendable () -> Void) {
        (claim, self.duration) = (job.claim, duration)
        state = Mutex(State(expiresAt: job.lease?.expiresAt ?? Date() + duration))
        let thread = Thread { [self] in run(queue, logger: logger, sweep: sweep) }
        thread.name = "augerino job \(job.id) queue link"
        thread.start()
    }

    private func run(_ queue: any JobQueue, logger: Logger, sweep: () -> Void) {
        var lastRenewal = Date(), failing = false
        while true {
            _ = wake.wait(timeout: .now() + 0.25)
            if let progress = state.withLock({ state -> JobProgress? in defer { state.progress = nil }; return state.progress }) {
                do { try queue.recordProgress(claim, progress) } catch { lose(error) }
            }
            if state.withLock({ $0.finished || $0.lost != nil }) { return }
            if (try? queue.isCancelRequested(id: claim.id)) == true { state.withLock { $0.cancelRequested = true } }
            sweep()
            let now = Date()
            guard now.timeIntervalSince(lastRenewal) >= (failing ? duration / 16 : duration / 4), !state.withLock({ $0.finished }) else { continue }
            lastRenewal = now
            state.withLock { $0.renewalSince = now }
            defer { state.withLock { $0.renewalSince = nil } }
            do {
                let renewed = try queue.renewLease(claim, now: now, duration: duration)
                state.withLock { $0.expiresAt = renewed.lease?.expiresAt ?? now + duration }
                failing = false
            } catch {
                failing = true
                guard !lose(error) else { continue }
                let left = state.withLock { state -> TimeInterval in
                    state.lastError = "\(error)"
                    return state.expiresAt.timeIntervalSinceNow
                }
                logger.warning("\(claim): cannot renew its lease (\(error)); it runs out in \(max(0, Int(left))) s unless a renewal gets through")
            }
        }
    }

    /// Records the lease as lost when `error` says so; returns whether it did.
    @discardableResult
    private func lose(_ error: Error) -> Bool {
        guard case .leaseLost = error as? PipelineError else { return false }
        state.withLock { if $0.lost == nil { $0.lost = "\(error)" } }
        return true
    }

    /// Hands progress to the link; only the newest is recorded.
    func record(_ progress: JobProgress) {
        state.withLock { $0.progress = progress }
    }

    /// Whether `augerino cancel` asked for the job to stop.
    var isCancelRequested: Bool { state.withLock { $0.cancelRequested } }

    /// Why the lease is lost, or nil while it holds.
    func leaseLost(now: Date = Date()) -> String? {
        state.withLock { state in
            if state.lost == nil, !state.finished, now + duration / 8 >= state.expiresAt {
                let why = state.renewalSince.map { "a renewal has waited \(Int(now.timeIntervalSince($0))) s for the queue's answer" }
                    ?? state.lastError.map { "last error: \($0)" } ?? "no renewal was tried"
                state.lost = "\(claim): no renewal of its lease reached the queue, and it runs out at \(state.expiresAt) (\(why))"
            }
            return state.lost
        }
    }

    /// Ends the link (the job's child has ended); the worker talks to the queue itself from now on.
    func finish() {
        state.withLock { $0.finished = true }
        wake.signal()
    }
}

/// A size in MiB or GiB, for messages ("512 MiB", "1.5 GiB").
func byteSize(_ bytes: Int) -> String {
    bytes >= 1 << 30 ? String(format: "%.3g GiB", Double(bytes) / Double(1 << 30)) : String(format: "%.3g MiB", Double(bytes) / Double(1 << 20))
}
