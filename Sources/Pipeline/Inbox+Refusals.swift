import Foundation
import Logging

/// Files the inbox cannot take, explained once each (a log line and an ingest error.json), and
/// the limits on failures that keep a flood of bad files from costing without bound.
extension Inbox {
    /// Logs `message` once per name and problem `key`. A name under which more than eight
    /// problems were seen (an entry swapped again and again) gets one line saying so, then
    /// nothing more until it is taken or gone.
    func report(_ name: String, key: String, level: Logger.Level, _ message: @autoclosure () -> String) {
        var keys = reported[name, default: []]
        guard !keys.contains(key) else { return }
        if keys.count >= 8 {
            if keys.insert("…").inserted {
                reported[name] = keys
                logger.warning("\(folder.appendingPathComponent(name).path): keeps changing (more than 8 different problems under this name); nothing more is logged about it until it is taken or gone")
            }
            return
        }
        keys.insert(key)
        reported[name] = keys
        logger.log(level: level, "\(message())")
    }

    /// A file that stays in the inbox: one log line per problem, and one outbox error.json per
    /// inbox file saying what is wrong (replaced when the kind of problem changes). Past the
    /// failure limits nothing is written, and one line per `failure_window` says so.
    func refuse(_ name: String, _ refusal: InboxFile.Refusal, key: String) {
        guard reported[name]?.contains(key) != true else { return }
        let path = folder.appendingPathComponent(name).path
        let (sentence, hint) = explain(refusal, path: path)
        if let limited = failureLimit(for: name) {
            reported[name, default: []].insert(key)
            if limitLoggedAt.map({ Date().timeIntervalSince($0) >= configuration.failureWindow }) ?? true {
                limitLoggedAt = Date()
                logger.warning("\(path): \(sentence); not taken, and not explained in an error.json: \(limited); further refusals are not logged for \(Int(configuration.failureWindow)) s")
            }
            return
        }
        report(name, key: key, level: .warning, "\(path): \(sentence); not taken, left in the inbox; hint: \(hint)")
        let base = Self.jobName(fileName: name)
        if outbox.hasIngestError(base: base, inboxFile: path, problem: refusal.kind) { return }
        _ = outbox.withdrawIngestErrors(base: base, inboxFile: path)  // it was another problem before
        do {
            let published = try outbox.publish(base: base, job: 0, reserve: { _ in }) { folder in
                try JSONFile([
                    "schema": "augerino.error/1", "job": NSNull(), "bundle": name, "sha256": NSNull(), "stage": "ingest",
                    "error": "\(name): \(sentence)", "hint": hint, "fault": "ingest", "attempts": 0, "quarantined_bundle": NSNull(),
                    "inbox_file": path, "problem": refusal.kind,
                ]).write(to: folder.appendingPathComponent("error.json"))
            }
            refusalTimes.append(Date())
            logger.notice("\(path): explained in outbox/\(published)/error.json")
        } catch {
            logger.error("\(path): cannot write its error.json: \(error)")
        }
    }

    /// A refusal as a sentence (what is wrong, the rule) and a hint (what to do).
    func explain(_ refusal: InboxFile.Refusal, path: String) -> (String, String) {
        switch refusal {
        case .notARegularFile(let kind):
            return ("it is \(kind) (rule: only regular files are taken; links are never followed)",
                    "drop the bundle file itself: copy it into the inbox, do not link it")
        case .unreadable(let reason):
            return ("the daemon's user (uid \(getuid())) cannot read it: \(reason) (rule: the daemon reads dropped files with its own rights)",
                    "make it readable by the daemon, e.g. `chmod g+r` with the inbox's group (augerino-drop under the shipped unit), or `chmod o+r`; it is taken as soon as it is readable")
        case .hardLinked(let links):
            return ("it has \(links) hard links (rule: a dropped file must have exactly one name, so that it cannot be a link to a file the dropper could not read)",
                    "copy the bundle into the inbox (cp, not ln)")
        case .tooLarge(let size, let cap):
            return ("it holds \(size) bytes, more than any bundle within the caps can (\(cap) bytes; rule: max_total_size and max_members in daemon.conf)",
                    "split the dataset, or raise [bundle] max_total_size in daemon.conf")
        case .stillBeingWritten, .vanished:
            return ("it changed while it was being taken", "write it under a .part name and rename it when complete")
        case .system(let step, let code):
            return ("\(step) it failed: \(String(cString: strerror(code)))", "see the daemon's log")
        }
    }

    /// Why taking `name` must wait, or nil. Every bundle taken counts against the limits until
    /// it has finished (it may fail); one that failed keeps counting for `failure_window`, and so
    /// does a refused inbox file that was explained in an error.json. So a flood of bad files
    /// costs at most `max_failures` jobs, error.json files and quarantined bundles per window
    /// (`max_failures_per_name` for one name), whatever the daemon is busy with.
    func failureLimit(for name: String) -> String? {
        let window = configuration.failureWindow
        guard configuration.maxFailures > 0 || configuration.maxFailuresPerName > 0 else { return nil }
        let since = Date() - window
        refusalTimes.removeAll { $0 < since }
        func sentence(_ count: FailureCount, refused: Int, what: String, rule: String) -> String {
            "\(count.failed + refused) \(what) failed\(refused > 0 ? " or were refused" : "") in the last \(Int(window)) s and \(count.unfinished) \(count.unfinished == 1 ? "has" : "have") not finished yet (rule: \(rule) per failure_window, counting unfinished bundles)"
        }
        if configuration.maxFailuresPerName > 0, let count = try? queue.failureCount(since: since, fileName: name),
           count.total >= configuration.maxFailuresPerName {
            return sentence(count, refused: 0, what: "bundles named \(name)", rule: "max_failures_per_name = \(configuration.maxFailuresPerName)")
        }
        if configuration.maxFailures > 0, let count = try? queue.failureCount(since: since, fileName: nil),
           count.total + refusalTimes.count >= configuration.maxFailures {
            return sentence(count, refused: refusalTimes.count, what: "bundles", rule: "max_failures = \(configuration.maxFailures)")
        }
        return nil
    }

    /// Withdraws the ingest error.json entries of the inbox file `name` (it was taken after all).
    func withdrawIngestErrors(_ name: String) {
        let path = folder.appendingPathComponent(name).path
        for entry in outbox.withdrawIngestErrors(base: Self.jobName(fileName: name), inboxFile: path) {
            logger.notice("\(path): taken now; withdrew its earlier outbox/\(entry)/error.json")
        }
    }
}
