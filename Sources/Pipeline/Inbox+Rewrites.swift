import Foundation

/// Files taken before their writer had finished: the inbox keeps each taken file's descriptor
/// for `rewrite_window` seconds; a file that changes is taken again once quiet, as a job that
/// supersedes the first (docs/operations.md, "Dropping bundles").
extension Inbox {
    /// A taken file's descriptor, kept for `rewrite_window` seconds after its last change.
    struct HeldFile {
        var file: InboxFile
        let name: String
        /// The job that holds its latest content.
        var job: Int64
        var sha256: String
        var lastChange = Date()
        /// Changed since it was taken, not yet taken again.
        var pending = false
    }

    private var maxHeld: Int {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return max(16, min(1024, Int(limit.rlim_cur) / 4))
    }

    func hold(_ entry: HeldFile) {
        guard configuration.rewriteWindow > 0 else { return entry.file.close() }
        while held.count >= maxHeld { held.removeFirst().file.close() }
        held.append(entry)
    }

    /// Looks at the files taken within `rewrite_window`: one that changed since it was taken is
    /// taken again once it has been quiet for `settle_time` (and no writer has it open, where a
    /// lease can tell), as a job that supersedes the earlier one. Runs every second.
    func checkHeldFiles() {
        dispatchPrecondition(condition: .onQueue(serial))
        let now = Date()
        var kept: [HeldFile] = []
        for var entry in held {
            guard let current = entry.file.current() else { entry.file.close(); continue }
            if current != entry.file.snapshot {
                entry.file.resnapshot()
                entry.lastChange = now
                entry.pending = true
            } else if entry.pending && now.timeIntervalSince(entry.lastChange) >= configuration.settleTime {
                retake(&entry)
            }
            if entry.pending || now.timeIntervalSince(entry.lastChange) < configuration.rewriteWindow {
                kept.append(entry)
            } else {
                entry.file.close()
            }
        }
        held = kept
    }

    private func retake(_ entry: inout HeldFile) {
        guard entry.file.leaseIfAllowed() else { return }  // its writer still has it open
        defer { entry.file.releaseLease() }
        let copy: InboxFile.Copy
        do {
            copy = try entry.file.copy(into: state.spool, name: nextIncomingName(), stopping: { isStopping })
        } catch {
            if case .changed = error { return }
            copyFailed(entry.name, error)
            entry.pending = false
            return
        }
        guard copy.sha256 != entry.sha256 else {  // touched, not rewritten
            unlink(copy.path)
            entry.pending = false
            return
        }
        guard let job = record(copy, fileName: entry.name, source: entry.file.identity.text(copy.snapshot), supersedes: entry.job) else { return }
        logger.notice("job \(job.id): \(entry.name) was written again after it was taken as job \(entry.job) (its writer had not finished); job \(job.id) trains the finished file and job \(entry.job) is superseded")
        if let old = try? queue.job(id: entry.job) { retire(superseded: old) }
        (entry.job, entry.sha256, entry.pending) = (job.id, copy.sha256, false)
        onEnqueued()
    }

    /// What a superseded job leaves behind: a cancelled one's spool copy goes; a failed one's
    /// error.json is withdrawn, since it describes a file that was not finished. (A running
    /// one stops at its next batch; the worker does the same for it.)
    private func retire(superseded old: Job) {
        switch old.state {
        case .cancelled:
            if state.isInSpool(old.bundlePath) { unlink(old.bundlePath) }
        case .failed:
            if let name = old.resultName, outbox.withdraw(name, job: old.id) {
                logger.notice("job \(old.id): withdrew outbox/\(name) (its file was not finished when taken; job \(old.supersededBy ?? 0) has the finished one)")
            }
            // Its quarantined copy is a prefix of the finished file: nothing to keep.
            if old.bundlePath.hasPrefix(state.quarantine.path + "/") { unlink(old.bundlePath) }
        case .queued, .running, .done:
            break
        }
    }
}
