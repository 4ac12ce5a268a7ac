import Foundation
import Logging

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
                           workFolder: work.path, checkpointPath: state.checkpoint(job: job.id).path,
                           bundleLimits: JobSpec.Limits(configuration.bundleLimits), training: configuration.training,
                           threads: parallelism.threads, confinement: configuration.effectiveJobLimits)
        let child = ConfinedJob(spec: spec, executable: executable)
        do { try child.start() } catch { return .failed(.machine, stage: "start", message: "\(error)") }
        notifier.worker(index, status: "job \(job.id) (\(job.name)): unpacking")

        var stage = "extract", detail: String? = nil
        var final: JobEvent?
        var lastWord = Date(), lastCancelCheck = Date.distantPast
        var stopAsked: Date?, cancelled = false, hung = false, killed = false
        var lease = LeaseKeeper(job: job, duration: configuration.leaseDuration)
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
            } else if now.timeIntervalSince(lastCancelCheck) >= 0.25 {
                lastCancelCheck = now
                if (try? queue.isCancelRequested(id: job.id)) == true {
                    cancelled = true
                    child.askToStop()
                    stopAsked = now
                }
                // Jobs cancelled while they wait do not wait for this one to end.
                quarantineBundlesCancelledWhileQueued()
            }
            if stopAsked == nil, lease.renewIfDue(queue, now: now, logger: logger) != nil {
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
                try? queue.recordProgress(job.claim, progress)
                notifier.worker(index, status: String(format: "job %lld (%@): %@, %.0f%%, ETA %.0f s", job.id, job.name,
                                                      progress.phase ?? "epoch \(progress.epoch)/\(progress.epochs)",
                                                      progress.fraction * 100, progress.etaSeconds ?? 0))
            case .epoch:
                if let progress = event.progress { try? queue.recordProgress(job.claim, progress) }
                logger.info("\(event.message ?? "job \(job.id): an epoch finished")")
            case .done, .failed, .stopped:
                final = event
            }
        }
        let termination = child.waitForExit()
        if let reason = lease.lost { return .leaseLost(reason) }

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

/// A running job's lease, renewed by the worker that supervises it: every quarter of the
/// lease's duration. When the queue says the lease is no longer the worker's, or no renewal
/// got through before the lease ran out (the queue unreachable), the lease is lost and the
/// worker stops the job: from then on another host may hold it.
struct LeaseKeeper {
    let claim: JobClaim
    let duration: TimeInterval
    /// When the lease runs out unless renewed, as far as this worker knows.
    private(set) var expiresAt: Date
    private var lastTry: Date
    private var failing = false
    /// Why the lease was lost; nil while held.
    private(set) var lost: String?

    init(job: Job, duration: TimeInterval) {
        (claim, self.duration) = (job.claim, duration)
        expiresAt = job.lease?.expiresAt ?? Date() + duration
        lastTry = Date()
    }

    /// Renews the lease when a quarter of its duration has passed since the last renewal (a
    /// sixteenth after a failed try); returns why it was lost, when it was. A worker that could
    /// not renew gives the lease up an eighth of its duration before it runs out, so the job
    /// has stopped before another host may take it.
    mutating func renewIfDue(_ queue: any JobQueue, now: Date, logger: Logger) -> String? {
        guard lost == nil else { return lost }
        guard now.timeIntervalSince(lastTry) >= (failing ? duration / 16 : duration / 4) else { return nil }
        lastTry = now
        do {
            expiresAt = try queue.renewLease(claim, now: now, duration: duration).lease?.expiresAt ?? now + duration
            failing = false
        } catch {
            failing = true
            if case .leaseLost = error as? PipelineError {
                lost = "\(error)"
            } else if now + duration / 8 >= expiresAt {
                lost = "\(claim): no renewal of its lease reached the queue before it was about to run out at \(expiresAt) (last error: \(error))"
            } else {
                logger.warning("\(claim): cannot renew its lease (\(error)); it runs out in \(Int(expiresAt.timeIntervalSince(now))) s unless a renewal gets through")
            }
        }
        return lost
    }
}

/// A size in MiB or GiB, for messages ("512 MiB", "1.5 GiB").
func byteSize(_ bytes: Int) -> String {
    bytes >= 1 << 30 ? String(format: "%.3g GiB", Double(bytes) / Double(1 << 30)) : String(format: "%.3g MiB", Double(bytes) / Double(1 << 20))
}
