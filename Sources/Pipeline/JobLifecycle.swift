/// Every move a job can make: the one table of legal transitions that every queue backend
/// follows (`JobLifecycle.next`). A backend looks a move up before it writes, and a move the
/// table does not allow is `PipelineError.illegalTransition`, named the same way whichever
/// backend refused it.
public enum JobAction: String, Sendable, CaseIterable {
    /// A worker takes a queued job whose time has come, with a lease and the next generation.
    case claim
    /// The running job's worker extends its lease.
    case renew
    /// A running job's progress (or its checkpoint) is recorded.
    case recordProgress = "record progress"
    /// The worker names the result before it renames it into the outbox.
    case reserveResult = "publish"
    /// The result is in the outbox.
    case complete
    /// The job failed for good.
    case fail
    /// The job failed and runs again later.
    case retryLater = "retry later"
    /// A graceful stop: the job resumes from its checkpoint.
    case requeue
    /// Its worker is gone: the daemon crashed and, starting again, finds the jobs its host held.
    case interrupt
    /// Its worker's lease ran out without a renewal (the host died, hung or lost the queue):
    /// the next claim on any host takes it back, with the next generation.
    case expire
    /// The worker saw the cancel request and stopped.
    case markCancelled = "mark cancelled"
    /// `augerino cancel`: a queued job at once, a running one at its next batch.
    case cancel
    /// `augerino retry`: a failed or cancelled job runs again.
    case retry
    /// The same inbox file was written again after it was taken: its new job supersedes this one.
    case supersede
}

public enum JobLifecycle {
    /// For each action, the states it may start from and where it leads. An action that
    /// leads to the same state changes only the job's fields (progress, a cancel request).
    public static let table: [JobAction: [JobState: JobState]] = [
        .claim: [.queued: .running],
        .renew: [.running: .running],
        .recordProgress: [.running: .running],
        .reserveResult: [.running: .running],
        .complete: [.running: .done],
        .fail: [.running: .failed],
        .retryLater: [.running: .queued],
        .requeue: [.running: .queued],
        .interrupt: [.running: .queued],
        .expire: [.running: .queued],
        .markCancelled: [.running: .cancelled],
        .cancel: [.queued: .cancelled, .running: .running],
        .retry: [.failed: .queued, .cancelled: .queued],
        .supersede: [.queued: .cancelled, .running: .running, .done: .done, .failed: .failed, .cancelled: .cancelled],
    ]

    /// The states `action` may start from, in the lifecycle's order.
    public static func sources(of action: JobAction) -> [JobState] {
        JobState.allCases.filter { table[action]?[$0] != nil }
    }

    /// Where `action` takes a job in `state`.
    /// - Throws: `PipelineError.illegalTransition` when the table does not allow it.
    public static func next(_ action: JobAction, job id: Int64, from state: JobState) throws -> JobState {
        guard let next = table[action]?[state] else { throw PipelineError.illegalTransition(id: id, from: state, action: action) }
        return next
    }

    /// The rule `action` follows, for error messages: "only failed or cancelled jobs can be retried".
    public static func rule(_ action: JobAction) -> String {
        let states = sources(of: action).map(\.rawValue)
        let list = states.count > 1 ? states.dropLast().joined(separator: ", ") + " or " + states.last! : states.joined()
        let participle: String
        switch action {
        case .claim: participle = "claimed"
        case .renew: participle = "given a longer lease"
        case .recordProgress: participle = "given progress"
        case .reserveResult: participle = "published"
        case .complete: participle = "completed"
        case .fail: participle = "failed"
        case .retryLater: participle = "retried later"
        case .requeue: participle = "requeued"
        case .interrupt: participle = "interrupted"
        case .expire: participle = "taken back when their lease expires"
        case .markCancelled: participle = "marked cancelled"
        case .cancel: participle = "cancelled"
        case .retry: participle = "retried"
        case .supersede: participle = "superseded"
        }
        return "only \(list) jobs can be \(participle)"
    }

    /// The table as Markdown, as docs/operations.md shows it: one row per action, one column
    /// per state it may start from.
    public static var markdownTable: String {
        var lines = ["| action | " + JobState.allCases.map { "from `\($0.rawValue)`" }.joined(separator: " | ") + " |",
                     "|---|" + String(repeating: "---|", count: JobState.allCases.count)]
        for action in JobAction.allCases {
            let cells = JobState.allCases.map { state in table[action]?[state].map { "→ `\($0.rawValue)`" } ?? "–" }
            lines.append("| \(action.rawValue) | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }
}
