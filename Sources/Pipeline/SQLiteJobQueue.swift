import Foundation
import GRDB

/// The job queue in one SQLite file (GRDB): WAL journal with synchronous=FULL, so a committed
/// change survives power loss; every writing transaction begins IMMEDIATE, so two writers (the
/// daemon and `augerino cancel`, say) wait for each other instead of failing half-way.
/// Migrations only grow: a released migration is never edited.
public struct SQLiteJobQueue: JobQueue {
    public let path: String
    let database: any DatabaseWriter
    /// The private copy a read-only opening reads, removed with the last copy of this value.
    private let snapshot: TemporaryFolder?

    /// Opens (creating if needed) the queue at `path` and applies pending migrations.
    /// - Throws: `DatabaseError` when the file cannot be opened or migrated.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.label = "augerino.queue"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        database = try DatabasePool(path: path, configuration: configuration)
        snapshot = nil
        try Self.migrator.migrate(database)
    }

    private init(path: String, database: any DatabaseWriter, snapshot: TemporaryFolder?) {
        (self.path, self.database, self.snapshot) = (path, database, snapshot)
    }

    /// Opens the queue at `path` for reading only, for `augerino status` and `jobs`: no
    /// migration, no write, and no file created beside it, so it works on a read-only state
    /// folder, for a user who may only read it, and leaves nothing in the daemon's way. While
    /// the daemon has the queue open (its -wal and -shm files exist), SQLite reads the live
    /// file through them. Otherwise SQLite would create those two files, owned by the reader
    /// (a root-owned -shm would stop the daemon's next start), so the reader reads a private
    /// copy made in TMPDIR and removed when done: what the file holds at that moment.
    /// - Throws: `PipelineError.queueUnreadable` naming the file, the reason and what to do.
    public static func openReadOnly(path: String) throws -> SQLiteJobQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = "augerino.queue.reader"
        func probe(_ queue: SQLiteJobQueue) throws -> SQLiteJobQueue {
            _ = try queue.database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM jobs") }
            return queue
        }
        guard access(path, R_OK) == 0 else {
            throw PipelineError.queueUnreadable(path: path, reason: String(cString: strerror(errno)),
                                                hint: "run the command as the daemon's user, or give your user read access to the state folder")
        }
        var direct: Error?
        if FileManager.default.fileExists(atPath: path + "-wal") && FileManager.default.fileExists(atPath: path + "-shm") {
            do {
                return try probe(SQLiteJobQueue(path: path, database: DatabaseQueue(path: path, configuration: configuration), snapshot: nil))
            } catch {
                direct = error
            }
        }
        do {
            let folder = try TemporaryFolder(prefix: "augerino-queue-")
            let copy = folder.url.appendingPathComponent("queue.sqlite").path
            for suffix in ["", "-wal"] where suffix.isEmpty || FileManager.default.fileExists(atPath: path + suffix) {
                try FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix)
            }
            return try probe(SQLiteJobQueue(path: path, database: DatabaseQueue(path: copy, configuration: configuration), snapshot: folder))
        } catch {
            throw PipelineError.queueUnreadable(path: path, reason: direct.map { "\($0); reading a copy failed too: \(error)" } ?? "\(error)",
                                                hint: "check that queue.sqlite and its -wal and -shm files are readable by your user")
        }
    }

    /// The schema's history, oldest first.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        // Released migrations are never edited: the state names below are the schema's of that
        // day (`JobState`'s, which only grow); the code binds states, it never writes them.
        migrator.registerMigration("1: jobs") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    file_name TEXT NOT NULL,
                    bundle_path TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    created_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    not_before REAL,
                    progress TEXT,
                    error TEXT,
                    result_name TEXT,
                    duplicate_of INTEGER REFERENCES jobs(id),
                    cancel_requested INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX jobs_by_state ON jobs(state, id);
                CREATE INDEX jobs_by_sha256 ON jobs(sha256);
                """)
        }
        migrator.registerMigration("2: inbox sources and superseding") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN source TEXT;
                ALTER TABLE jobs ADD COLUMN superseded_by INTEGER REFERENCES jobs(id);
                CREATE INDEX jobs_by_source ON jobs(source);
                CREATE INDEX jobs_failed_by_time ON jobs(state, finished_at);
                """)
        }
        migrator.registerMigration("3: leases") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN lease_host TEXT;
                ALTER TABLE jobs ADD COLUMN lease_pid INTEGER;
                ALTER TABLE jobs ADD COLUMN lease_expires_at REAL;
                CREATE INDEX jobs_by_lease ON jobs(state, lease_expires_at);
                """)
        }
        return migrator
    }

    /// Runs `body` in one BEGIN IMMEDIATE transaction; the engine's errors arrive as
    /// `PipelineError.queue` naming `step`.
    private func immediate<T>(_ step: String, _ body: (Database) throws -> T) throws -> T {
        try translatingErrors(step) {
            try database.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        }
    }

    /// Runs `body` in a read transaction; the engine's errors arrive as `PipelineError.queue`.
    private func read<T>(_ step: String, _ body: (Database) throws -> T) throws -> T {
        try translatingErrors(step) { try database.read(body) }
    }

    private func translatingErrors<T>(_ step: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DatabaseError {
            throw PipelineError.queue(location: path, step: step, reason: error.message ?? "\(error.resultCode)")
        }
    }

    /// "?, ?, ?" and the states' names, for `state IN (…)`: states are bound, never written
    /// into the SQL.
    private static func states(_ states: [JobState]) -> (placeholders: String, arguments: StatementArguments) {
        (Array(repeating: "?", count: states.count).joined(separator: ", "), StatementArguments(states.map(\.rawValue)))
    }

    private func fetch(_ db: Database, _ id: Int64) throws -> Job {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]) else {
            throw PipelineError.noSuchJob(id: id)
        }
        return try Self.job(row)
    }

    static func job(_ row: Row) throws -> Job {
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        let progress = (row["progress"] as String?).flatMap { try? JSONDecoder().decode(JobProgress.self, from: Data($0.utf8)) }
        let stateText: String = row["state"]
        guard let state = JobState(rawValue: stateText) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "job \(row["id"] as Int64): unknown state \(stateText)")  // translated by the caller
        }
        var job = Job(id: row["id"], name: row["name"], fileName: row["file_name"], bundlePath: row["bundle_path"], sha256: row["sha256"],
                      state: state, attempts: row["attempts"], createdAt: date("created_at")!, startedAt: date("started_at"),
                      finishedAt: date("finished_at"), notBefore: date("not_before"), progress: progress, error: row["error"],
                      resultName: row["result_name"], duplicateOf: row["duplicate_of"], cancelRequested: row["cancel_requested"],
                      source: row["source"], supersededBy: row["superseded_by"])
        job.generation = row["generation"]
        if let host = row["lease_host"] as String?, let pid = row["lease_pid"] as Int32?, let expiry = date("lease_expires_at") {
            job.lease = JobLease(host: host, pid: pid, expiresAt: expiry)
        }
        return job
    }

    /// Moves a job as `JobLifecycle` says `action` does from its state, setting `set` too. A
    /// job that leaves `running` lets its lease go.
    private func transition(_ db: Database, _ id: Int64, _ action: JobAction, set: String = "", _ arguments: StatementArguments = []) throws -> Job {
        let next = try JobLifecycle.next(action, job: id, from: try fetch(db, id).state)
        let leaseGone = next == .running ? "" : ", lease_host = NULL, lease_pid = NULL, lease_expires_at = NULL"
        try db.execute(sql: "UPDATE jobs SET state = ?\(leaseGone)\(set.isEmpty ? "" : ", " + set) WHERE id = ?", arguments: [next.rawValue] + arguments + [id])
        return try fetch(db, id)
    }

    /// A move by the running job's worker: refused with `leaseLost` unless `claim` is the job's
    /// current generation (the fence), then as the table says.
    private func ownerTransition(_ db: Database, _ claim: JobClaim, _ action: JobAction, set: String = "", _ arguments: StatementArguments = []) throws -> Job {
        let job = try fetch(db, claim.id)
        guard job.generation == claim.generation else {
            throw PipelineError.leaseLost(claim, now: job.generation, holder: job.lease, state: job.state, action: action)
        }
        return try transition(db, claim.id, action, set: set, arguments)
    }

    /// Takes running jobs from their holder, in their next generation: `expire` (leases that
    /// ran out before `now`) or `interrupt` (those of `host`, whose daemon starts again). Running
    /// jobs with no lease (left by a version before leases) count as both.
    private func takeBack(_ db: Database, _ action: JobAction, expiredBy now: Date? = nil, host: String? = nil) throws -> [Job] {
        let running = Self.states(JobLifecycle.sources(of: action))
        let ids = try Int64.fetchAll(db, sql: """
            SELECT id FROM jobs WHERE state IN (\(running.placeholders))
            AND (? IS NULL OR lease_expires_at IS NULL OR lease_expires_at < ?) AND (? IS NULL OR lease_host IS NULL OR lease_host = ?) ORDER BY id
            """, arguments: running.arguments + [now?.timeIntervalSince1970, now?.timeIntervalSince1970, host, host])
        return try ids.map { try transition(db, $0, action, set: "generation = generation + 1") }
    }

    /// The states a new job with the same content may point at: its result exists or will.
    static let reusable: [JobState] = [.queued, .running, .done]
    /// The states of jobs that may still fail.
    static let unfinished: [JobState] = [.queued, .running]

    public func enqueue(_ new: NewJob, now: Date) throws -> Job {
        try immediate("record a job") { db in
            if let source = new.source, new.supersedes == nil, let taken = try Row.fetchOne(db, sql: """
                SELECT * FROM jobs WHERE file_name = ? AND sha256 = ? AND source IS NOT NULL
                AND substr(source, instr(source, ':') + 1) = ? AND created_at >= ? ORDER BY id LIMIT 1
                """, arguments: [new.fileName, new.sha256, sharedInboxIdentity(source), (now - sameInboxFileWindow).timeIntervalSince1970]) {
                return try Self.job(taken)  // the same inbox file, taken already (by another host sharing the inbox)
            }
            let reusable = Self.states(Self.reusable)
            let original = try Int64.fetchOne(db, sql: """
                SELECT id FROM jobs WHERE sha256 = ? AND duplicate_of IS NULL AND state IN (\(reusable.placeholders)) AND id IS NOT ?
                ORDER BY id LIMIT 1
                """, arguments: [new.sha256] + reusable.arguments + [new.supersedes])
            try db.execute(sql: """
                INSERT INTO jobs (name, file_name, bundle_path, sha256, state, created_at, duplicate_of, source)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [new.name, new.fileName, new.bundlePath, new.sha256, JobState.queued.rawValue, now.timeIntervalSince1970,
                                 original, new.source])
            let id = db.lastInsertedRowID
            if let old = new.supersedes {
                switch try fetch(db, old).state {
                case .queued:  // it had not started, and never will (the table: → cancelled)
                    let reason = "superseded by job \(id): its inbox file was written again after it was taken"
                    _ = try transition(db, old, .supersede, set: "superseded_by = ?, error = ?, finished_at = ?", [id, reason, now.timeIntervalSince1970])
                case .running:  // asked to stop at its next batch
                    _ = try transition(db, old, .supersede, set: "superseded_by = ?, cancel_requested = 1", [id])
                case .done, .failed, .cancelled:  // finished: it records what replaced it
                    _ = try transition(db, old, .supersede, set: "superseded_by = ?", [id])
                }
            }
            return try fetch(db, id)
        }
    }

    public func job(source: String) throws -> Job? {
        try read("look up an inbox file's job") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE source = ? ORDER BY id DESC LIMIT 1", arguments: [source]).map(Self.job)
        }
    }

    public func failureCount(since: Date, fileName: String?) throws -> FailureCount {
        try read("count failures") { db in
            let unfinished = Self.states(Self.unfinished), counted = Self.states([.failed] + Self.unfinished)
            let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(CASE WHEN state = ? AND finished_at >= ? THEN 1 END) AS failed,
                       COUNT(CASE WHEN state IN (\(unfinished.placeholders)) THEN 1 END) AS unfinished
                FROM jobs WHERE state IN (\(counted.placeholders)) AND (? IS NULL OR file_name = ?)
                """, arguments: [JobState.failed.rawValue, since.timeIntervalSince1970] + unfinished.arguments + counted.arguments + [fileName, fileName])
            return FailureCount(failed: row?["failed"] ?? 0, unfinished: row?["unfinished"] ?? 0)
        }
    }

    public func claimNext(now: Date, holder: LeaseHolder) throws -> Job? {
        try immediate("claim a job") { db in
            _ = try takeBack(db, .expire, expiredBy: now)
            let claimable = Self.states(JobLifecycle.sources(of: .claim)), unfinished = Self.states(Self.unfinished)
            guard let id = try Int64.fetchOne(db, sql: """
                SELECT id FROM jobs WHERE state IN (\(claimable.placeholders)) AND (not_before IS NULL OR not_before <= ?)
                AND (duplicate_of IS NULL OR (SELECT o.state FROM jobs o WHERE o.id = jobs.duplicate_of) NOT IN (\(unfinished.placeholders)))
                ORDER BY id LIMIT 1
                """, arguments: claimable.arguments + [now.timeIntervalSince1970] + unfinished.arguments) else { return nil }
            let lease = holder.lease(from: now)
            return try transition(db, id, .claim, set: "started_at = COALESCE(started_at, ?), generation = generation + 1, lease_host = ?, lease_pid = ?, lease_expires_at = ?",
                                  [now.timeIntervalSince1970, lease.host, lease.pid, lease.expiresAt.timeIntervalSince1970])
        }
    }

    public func renewLease(_ claim: JobClaim, now: Date, duration: TimeInterval) throws -> Job {
        try immediate("renew a lease") { db in
            try ownerTransition(db, claim, .renew, set: "lease_expires_at = ?", [(now + duration).timeIntervalSince1970])
        }
    }

    public func recordProgress(_ claim: JobClaim, _ progress: JobProgress) throws {
        let text = String(decoding: try JSONEncoder().encode(progress), as: UTF8.self)
        try immediate("record progress") { db in
            // A job of this generation no longer running (cancelled meanwhile) keeps what it had: not an error.
            let job = try fetch(db, claim.id)
            guard job.generation != claim.generation || JobLifecycle.table[.recordProgress]?[job.state] != nil else { return }
            _ = try ownerTransition(db, claim, .recordProgress, set: "progress = ?", [text])
        }
    }

    public func isCancelRequested(id: Int64) throws -> Bool {
        try read("read a cancel request") { db in try Bool.fetchOne(db, sql: "SELECT cancel_requested FROM jobs WHERE id = ?", arguments: [id]) ?? false }
    }

    public func reserveResult(_ claim: JobClaim, name: String) throws {
        _ = try immediate("reserve a result name") { db in try ownerTransition(db, claim, .reserveResult, set: "result_name = ?", [name]) }
    }

    public func complete(_ claim: JobClaim, resultName: String, now: Date) throws {
        _ = try immediate("complete a job") { db in
            try ownerTransition(db, claim, .complete, set: "result_name = ?, finished_at = ?, error = NULL", [resultName, now.timeIntervalSince1970])
        }
    }

    public func fail(_ claim: JobClaim, error: String, bundlePath: String, now: Date) throws {
        _ = try immediate("fail a job") { db in
            try ownerTransition(db, claim, .fail, set: "error = ?, bundle_path = ?, finished_at = ?", [error, bundlePath, now.timeIntervalSince1970])
        }
    }

    public func retryLater(_ claim: JobClaim, error: String, notBefore: Date, countsAttempt: Bool) throws {
        _ = try immediate("queue a job again") { db in
            try ownerTransition(db, claim, .retryLater, set: "error = ?, not_before = ?, attempts = attempts + ?",
                           [error, notBefore.timeIntervalSince1970, countsAttempt ? 1 : 0])
        }
    }

    public func requeue(_ claim: JobClaim) throws {
        _ = try immediate("requeue a job") { db in try ownerTransition(db, claim, .requeue) }
    }

    public func markCancelled(_ claim: JobClaim, bundlePath: String, now: Date) throws {
        _ = try immediate("mark a job cancelled") { db in
            try ownerTransition(db, claim, .markCancelled, set: "bundle_path = ?, finished_at = ?", [bundlePath, now.timeIntervalSince1970])
        }
    }

    public func requeueInterrupted(host: String) throws -> [Job] {
        try immediate("requeue interrupted jobs") { db in try takeBack(db, .interrupt, host: host) }
    }

    public func detachDuplicate(id: Int64) throws {
        try immediate("detach a duplicate") { db in try db.execute(sql: "UPDATE jobs SET duplicate_of = NULL WHERE id = ?", arguments: [id]) }
    }

    public func cancel(id: Int64, now: Date) throws -> Job {
        try immediate("cancel a job") { db in
            // Queued: cancelled at once. Running: asked to stop; the worker marks it cancelled.
            try JobLifecycle.next(.cancel, job: id, from: try fetch(db, id).state) == .cancelled
                ? transition(db, id, .cancel, set: "finished_at = ?", [now.timeIntervalSince1970])
                : transition(db, id, .cancel, set: "cancel_requested = 1")
        }
    }

    public func relocateCancelledBundle(id: Int64, from: String, to: String) throws -> Bool {
        try immediate("record a cancelled bundle's move") { db in
            try db.execute(sql: "UPDATE jobs SET bundle_path = ? WHERE id = ? AND state = ? AND bundle_path = ?",
                           arguments: [to, id, JobState.cancelled.rawValue, from])
            return db.changesCount > 0
        }
    }

    public func retry(id: Int64) throws -> Job {
        try immediate("retry a job") { db in
            try transition(db, id, .retry,
                           set: "attempts = 0, error = NULL, not_before = NULL, cancel_requested = 0, finished_at = NULL, result_name = NULL, progress = NULL")
        }
    }

    public func job(id: Int64) throws -> Job? {
        try read("read a job") { db in try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(Self.job) }
    }

    public func jobs(state: JobState?) throws -> [Job] {
        try read("list jobs") { db in
            if let state {
                return try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE state = ? ORDER BY id", arguments: [state.rawValue]).map(Self.job)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM jobs ORDER BY id").map(Self.job)
        }
    }

    public func counts() throws -> [JobState: Int] {
        try read("count jobs") { db in
            var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    public func bundlePaths() throws -> Set<String> {
        try read("list bundles") { db in Set(try String.fetchAll(db, sql: "SELECT bundle_path FROM jobs")) }
    }
}
