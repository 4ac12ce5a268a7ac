import Foundation

/// The outbox: each result appears whole or not at all. A result is assembled in a hidden
/// temporary folder on the outbox's own file system, its files and the folder fsynced, then
/// renamed to outbox/<name>/ and the outbox fsynced (a rename is atomic but not durable until
/// its folder is synced). Nothing is overwritten: when <name> exists, the result becomes
/// <name>-2, <name>-3, …
///
/// Several hosts may share one outbox (a fleet on one PostgreSQL queue), so a temporary folder
/// is named for who fills it, `.augerino-tmp-<pid>-<what>@<host>`, and a daemon starting up
/// removes only what a process of its own host that is gone left behind: never a folder
/// another host (or another live daemon) is filling at that moment.
public struct Outbox: Sendable {
    public let folder: URL
    /// Whose temporary folders this outbox's writes make: the daemon's `host_name`.
    public let host: String
    static let temporaryPrefix = ".augerino-tmp-"
    /// A temporary folder of another host (or of an earlier version, whose names carry no host)
    /// is removed once it has not changed for this long: a publish takes seconds, and a host
    /// stalled for a day has long lost its lease, so its rename would be refused anyway.
    static let foreignLeftoverAge: TimeInterval = 86_400

    public init(_ folder: URL, host: String = LeaseHolder.machineHostName) {
        self.folder = folder
        self.host = String(host.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
    }

    /// The hidden folder where this process assembles something (`what`: a job id, or a
    /// withdrawn entry on its way out).
    func temporary(_ what: String) -> URL {
        folder.appendingPathComponent("\(Self.temporaryPrefix)\(getpid())-\(what)@\(host)")
    }

    /// Who left a temporary folder: its process and host; nil for a name that carries no host.
    static func owner(ofTemporary name: String) -> (pid: pid_t, host: Substring)? {
        guard name.hasPrefix(temporaryPrefix), let at = name.firstIndex(of: "@") else { return nil }
        let body = name[name.index(name.startIndex, offsetBy: temporaryPrefix.count)..<at]
        guard let dash = body.firstIndex(of: "-"), let pid = pid_t(body[..<dash]), pid > 0 else { return nil }
        return (pid, name[name.index(after: at)...])
    }

    /// Removes the temporary folders that processes of this host that are gone (a crash, a
    /// kill -9) left behind, and any other's unchanged for `foreignLeftoverAge`; never a
    /// published result, never one a live process is filling. Called at start, before any
    /// publish of this process (so one named with this very pid is an earlier process's: a
    /// daemon that is pid 1 in its container restarts as pid 1).
    public func removeLeftovers(now: Date = Date()) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where name.hasPrefix(Self.temporaryPrefix) {
            let path = folder.appendingPathComponent(name)
            let gone: Bool
            if let owner = Self.owner(ofTemporary: name), owner.host == host {
                gone = owner.pid == getpid() || (kill(owner.pid, 0) != 0 && errno == ESRCH)
            } else {
                var info = stat()
                gone = lstat(path.path, &info) == 0 && now.timeIntervalSince1970 - Double(info.st_mtim.tv_sec) > Self.foreignLeftoverAge
            }
            if gone { try? FileManager.default.removeItem(at: path) }
        }
    }

    /// The first of `base`, `base-2`, `base-3`, … that does not exist yet.
    func freeName(_ base: String) -> String {
        var candidate = base, n = 1
        while true {
            var info = stat()
            if lstat(folder.appendingPathComponent(candidate).path, &info) != 0 && errno == ENOENT { return candidate }
            n += 1
            candidate = "\(base)-\(n)"
        }
    }

    /// Publishes a result folder: `fill(temporary)` writes the files, `reserve(name)` records
    /// the name (in the queue) just before the rename. Returns the name used.
    /// - Throws: `PipelineError.io`, or what `fill` or `reserve` throw; the temporary folder is
    ///   removed on failure.
    public func publish(base: String, job: Int64, reserve: (String) throws -> Void, fill: (URL) throws -> Void) throws -> String {
        let temporary = self.temporary("\(job)")
        try? FileManager.default.removeItem(at: temporary)
        guard mkdir(temporary.path, 0o755) == 0 else { throw PipelineError.io(temporary.path, "creating the result's temporary folder") }
        do {
            try fill(temporary)
            for name in try FileManager.default.contentsOfDirectory(atPath: temporary.path) {
                try syncFile(temporary.appendingPathComponent(name).path)
            }
            try syncFolder(temporary)
            while true {
                let name = freeName(base)
                try reserve(name)
                if rename(temporary.path, folder.appendingPathComponent(name).path) == 0 {
                    try syncFolder(folder)
                    return name
                }
                guard errno == EEXIST || errno == ENOTEMPTY || errno == ENOTDIR else {
                    throw PipelineError.io(temporary.path, "renaming to \(folder.appendingPathComponent(name).path)")
                }
                // Someone took the name between the check and the rename: try the next one.
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Publishes outbox/<name> as a symbolic link to an earlier result `target` (a name in
    /// this outbox), for a bundle whose content was already trained. Returns the name used.
    public func publishLink(base: String, to target: String, reserve: (String) throws -> Void) throws -> String {
        while true {
            let name = freeName(base)
            try reserve(name)
            if symlink(target, folder.appendingPathComponent(name).path) == 0 {
                try syncFolder(folder)
                return name
            }
            guard errno == EEXIST else { throw PipelineError.io(folder.appendingPathComponent(name).path, "linking to \(target)") }
        }
    }

    /// What outbox/<name> holds for job `job`, when it is that job's published entry (after a
    /// crash between the rename and the queue's update): "done" or "failed" (its job.json's
    /// `result`), "link" for a duplicate's link to `linkTarget`; nil when it is not the job's.
    public func publishedResult(_ name: String, job: Int64, linkTarget: String?) -> String? {
        let path = folder.appendingPathComponent(name).path
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            return linkTarget != nil && (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == linkTarget ? "link" : nil
        }
        guard let data = FileManager.default.contents(atPath: path + "/job.json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              (object["id"] as? NSNumber)?.int64Value == job else { return nil }
        return object["result"] as? String
    }

    // MARK: Withdrawing error results

    /// The entries `base`, `base-2`, `base-3`, … that exist (the names a result for `base` gets).
    func entries(named base: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.filter { name in
            name == base || (name.hasPrefix(base + "-") && Int(name.dropFirst(base.count + 1)).map { $0 >= 2 } == true)
        }.sorted()
    }

    /// The error.json of entry `name` as an object, if it is a folder holding one.
    func errorReport(_ name: String) -> [String: Any]? {
        let path = folder.appendingPathComponent(name).path
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR,
              let data = FileManager.default.contents(atPath: path + "/error.json") else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// Whether an ingest error.json (a file the inbox could not take) for `inboxFile` and
    /// `problem` is already published under `base`.
    func hasIngestError(base: String, inboxFile: String, problem: String) -> Bool {
        entries(named: base).contains { name in
            guard let report = errorReport(name) else { return false }
            return report["stage"] as? String == "ingest" && report["inbox_file"] as? String == inboxFile && report["problem"] as? String == problem
        }
    }

    /// Withdraws every ingest error.json published for `inboxFile` under `base` (the file was
    /// taken after all). Returns the entries removed.
    func withdrawIngestErrors(base: String, inboxFile: String) -> [String] {
        entries(named: base).filter { name in
            guard let report = errorReport(name), report["stage"] as? String == "ingest", report["inbox_file"] as? String == inboxFile else { return false }
            return remove(name)
        }
    }

    /// Withdraws outbox/<name> when it is job `job`'s published failure (its job.json says so):
    /// the failure of a take that was superseded. Returns whether it was removed.
    public func withdraw(_ name: String, job: Int64) -> Bool {
        guard publishedResult(name, job: job, linkTarget: nil) == "failed" else { return false }
        return remove(name)
    }

    /// Removes an entry so that no reader sees it half removed: renamed to a hidden temporary
    /// name first (atomic), then deleted.
    func remove(_ name: String) -> Bool {
        let hidden = temporary("withdrawn-\(UUID().uuidString.prefix(8))")
        guard rename(folder.appendingPathComponent(name).path, hidden.path) == 0 else { return false }
        try? FileManager.default.removeItem(at: hidden)
        try? syncFolder(folder)
        return true
    }
}
