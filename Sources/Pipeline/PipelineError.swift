import Foundation

/// What can go wrong in the daemon's machinery (configuration, state folder, queue, outbox).
/// Each description names the file, line, job or path, the rule broken, and what to do.
public enum PipelineError: Error, Equatable, CustomStringConvertible {
    /// daemon.conf breaks a rule at `line` (0: the file as a whole).
    case configuration(file: String, line: Int, rule: String)
    /// Another daemon holds the state folder's lock.
    case stateLocked(path: String, pid: String)
    /// Another daemon with the same host name uses the shared queue.
    case queueLocked(location: String, host: String)
    /// No job has this id.
    case noSuchJob(id: Int64)
    /// The job's state does not allow the request (retry a done job, cancel a failed one…).
    case illegalTransition(id: Int64, from: JobState, action: JobAction)
    /// A worker wrote for a running job with a claim that is no longer the job's: its lease
    /// expired and the job went back to the queue (and perhaps to another host), or it ended.
    /// The fence: that worker stops and records nothing.
    case leaseLost(JobClaim, now: Int64, holder: JobLease?, state: JobState, action: JobAction)
    /// A file-system step failed; `reason` is the system's message.
    case io(path: String, step: String, reason: String, errno: Int32)
    /// The queue cannot be read (by `status` or `jobs`).
    case queueUnreadable(path: String, reason: String, hint: String)
    /// The queue's engine refused or failed a step (storage full or failing, a lock held too
    /// long, a server gone): the machine's fault, never the job's.
    case queue(location: String, step: String, reason: String)

    /// What is wrong: the file, line, job or path, and the rule broken.
    public var problem: String {
        switch self {
        case let .configuration(file, line, rule):
            return line > 0 ? "\(file), line \(line): \(rule)" : "\(file): \(rule)"
        case let .stateLocked(path, pid):
            return "\(path): another augerino daemon (pid \(pid)) is using this state folder (rule: one daemon per state folder)"
        case let .queueLocked(location, host):
            return "the job queue \(location): another augerino daemon with host name \(host) is using it (rule: one daemon per host name on a shared queue, since a daemon that starts takes back every job its host name held)"
        case let .noSuchJob(id):
            return "job \(id): no such job"
        case let .illegalTransition(id, from, action):
            return "job \(id) is \(from.rawValue): cannot \(action.rawValue) it (rule: \(JobLifecycle.rule(action)))"
        case let .leaseLost(claim, now, holder, state, action):
            let current = state == .running ? holder.map { "\($0.host) (pid \($0.pid)) holds it in generation \(now)" } ?? "it is held in generation \(now)"
                : "it is \(state.rawValue) in generation \(now)"
            return "job \(claim.id): this worker's lease of generation \(claim.generation) was lost (\(current)), so it cannot \(action.rawValue) it (rule: only the holder of a job's current lease writes its progress and outcome)"
        case let .io(path, step, reason, _):
            return "\(path): \(step) failed: \(reason)"
        case let .queueUnreadable(path, reason, _):
            return "\(path): cannot read the queue: \(reason)"
        case let .queue(location, step, reason):
            return "the job queue \(location): \(step) failed: \(reason)"
        }
    }

    /// What to do about it.
    public var hint: String? {
        switch self {
        case .configuration, .illegalTransition: return nil
        case .leaseLost: return "nothing to do: the worker stops the job without publishing; its current holder finishes it (raise [queue] lease if hosts lose their leases while healthy)"
        case .stateLocked: return "stop it, or give this one another `state =` in daemon.conf"
        case .queueLocked: return "stop it, or give this daemon a name of its own (`host_name =` in [queue] of daemon.conf)"
        case .noSuchJob: return "`augerino jobs` lists them"
        case .io: return "check free space and permissions of that folder"
        case let .queueUnreadable(_, _, hint): return hint
        case .queue: return "check the state folder's free space and permissions (or the queue server); the daemon retries the job"
        }
    }

    public var description: String { problem + (hint.map { "; hint: \($0)" } ?? "") }

    /// The failed step's error from `errno`.
    static func io(_ path: String, _ step: String, errno code: Int32 = errno) -> PipelineError {
        .io(path: path, step: step, reason: String(cString: strerror(code)), errno: code)
    }
}

extension PipelineError: LocalizedError {
    public var errorDescription: String? { description }
    public var recoverySuggestion: String? { hint }
}
