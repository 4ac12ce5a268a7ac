// Built with the package trait PostgreSQL only (Package.swift): without it, daemon.conf's
// [queue] url is refused with a sentence that says how to build it (PostgresQueueSettings).
#if PostgreSQL
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The job queue in PostgreSQL (vapor/postgres-nio), for a queue that lives on a server: one
/// transaction per call, as `JobQueue` asks; claims with `SELECT … FOR UPDATE SKIP LOCKED`, so
/// connections claiming at once never wait on each other or take one job twice; per-job moves
/// lock their row and follow `JobLifecycle`. The schema grows by numbered migrations recorded
/// in `augerino_migrations`, applied under an advisory lock so two daemons starting at once
/// do not race. Errors of the server or the connection arrive as `PipelineError.queue`.
///
/// The calls block their thread on NIO futures (they are answered on NIO's event loop, never
/// on the caller's), so the worker and the commands use this backend as they use SQLite.
public final class PostgresJobQueue: SharedJobQueue {
    public let settings: PostgresQueueSettings
    private let logger: Logger
    /// Open connections not in use; a call takes one (or opens one) and gives it back.
    private let idle = Mutex<[PostgresConnection]>([])
    private let nextConnectionID = Atomic<Int>(1)

    /// Connects, creates the schema if needed and applies pending migrations.
    /// - Throws: `PipelineError.queue` naming the server (never the password) and the reason.
    public init(_ settings: PostgresQueueSettings, logger: Logger = Logger(label: "augerino.queue.postgres")) throws {
        self.settings = settings
        self.logger = logger
        try migrate()
    }

    private init(reading settings: PostgresQueueSettings, logger: Logger) {
        (self.settings, self.logger) = (settings, logger)
    }

    /// Opens the queue for `status` and `jobs`: no schema created, no migration, nothing
    /// written, so a user who may only read the tables can use it.
    /// - Throws: `PipelineError.queueUnreadable` when the schema holds no queue yet;
    ///   `.queue` when the server cannot be reached.
    public static func openReadOnly(_ settings: PostgresQueueSettings, logger: Logger = Logger(label: "augerino.queue.postgres")) throws -> PostgresJobQueue {
        let queue = PostgresJobQueue(reading: settings, logger: logger)
        let exists = try queue.transaction("look for the queue") { session in
            try session.query("SELECT to_regclass('jobs') IS NOT NULL AND to_regclass('augerino_migrations') IS NOT NULL").rows[0].decode(Bool.self)
        }
        guard exists else {
            throw PipelineError.queueUnreadable(path: settings.location, reason: "no queue in this schema yet",
                                                hint: "start `augerino daemon` with this [queue] url first; it creates the queue")
        }
        return queue
    }

    deinit {
        for connection in idle.withLock({ $0 }) { Self.close(connection) }
    }

    // MARK: Connections and transactions

    /// Closes a connection and waits until it is closed (a connection must be closed before
    /// it is let go). Never called on an event loop: the queue's callers are plain threads.
    fileprivate static func close(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        try? closing.wait()
    }

    private func connect() throws -> PostgresConnection {
        var configuration: PostgresConnection.Configuration
        switch settings.endpoint {
        case let .tcp(host, port):
            let tls: PostgresConnection.Configuration.TLS
            switch settings.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .clientDefault))
            case .require: tls = .require(try NIOSSLContext(configuration: .clientDefault))
            }
            configuration = .init(host: host, port: port, username: settings.user, password: settings.password, database: settings.database, tls: tls)
        case .socket:
            configuration = .init(unixSocketPath: settings.socketPath!, username: settings.user, password: settings.password, database: settings.database)
        }
        var options = configuration.options
        options.connectTimeout = .seconds(Int64(Self.answerTimeout))
        configuration.options = options
        let connection = try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration,
                                                        id: nextConnectionID.add(1, ordering: .relaxed).oldValue, logger: logger).wait()
        do {
            _ = try Self.answer(connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \"\(settings.schema)\""), logger: logger), on: connection)
        } catch {
            Self.close(connection)
            throw error
        }
        return connection
    }

    /// Runs `body` in one transaction on a connection of its own; the server's and the
    /// connection's errors arrive as `PipelineError.queue` naming `step`.
    private func transaction<T>(_ step: String, _ body: (Session) throws -> T) throws -> T {
        let connection: PostgresConnection
        do {
            connection = try idle.withLock { $0.popLast() } ?? connect()
        } catch {
            throw translated(error, step: step)
        }
        let session = Session(connection: connection, logger: logger)
        do {
            try session.execute("BEGIN")
            let result = try body(session)
            try session.execute("COMMIT")
            idle.withLock { $0.append(connection) }
            return result
        } catch {
            if !(error is Unanswered), !connection.isClosed, (try? session.execute("ROLLBACK")) != nil {
                idle.withLock { $0.append(connection) }
            } else {
                Self.close(connection)
            }
            throw translated(error, step: step)
        }
    }

    private func translated(_ error: Error, step: String) -> Error {
        if error is PipelineError { return error }
        let reason: String
        if let error = error as? PSQLError {
            let server = error.serverInfo.map { info in
                [info[.message], info[.detail], info[.sqlState].map { "SQLSTATE \($0)" }].compactMap { $0 }.joined(separator: "; ")
            }
            reason = server ?? "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
        } else {
            reason = "\(error)"
        }
        return PipelineError.queue(location: settings.location, step: step, reason: reason)
    }

    /// A value bound to a placeholder ($1, $2, …): values are never written into the SQL.
    enum Value {
        case text(String?), integer(Int64?), real(Double?), texts([String])

        static func states(_ states: [JobState]) -> Value { .texts(states.map(\.rawValue)) }
        static func state(_ state: JobState) -> Value { .text(state.rawValue) }
        static func time(_ date: Date?) -> Value { .real(date?.timeIntervalSince1970) }
    }

    /// How long a statement may go unanswered before its connection is given up: a server
    /// cut off by the network never answers, and a worker must not wait on it for TCP's
    /// minutes while its job's lease runs out.
    public static let answerTimeout: TimeInterval = 10

    /// Waits for `future` at most `answerTimeout`; past that the connection is closed (which
    /// fails whatever still waits on it) and the wait ends with a sentence.
    static func answer<T: Sendable>(_ future: EventLoopFuture<T>, on connection: PostgresConnection) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<T, Error>?>(nil)
        future.whenComplete { outcome in
            result.withLock { $0 = outcome }
            done.signal()
        }
        guard done.wait(timeout: .now() + answerTimeout) == .success else {
            connection.close().whenComplete { _ in }
            throw Unanswered()
        }
        return try result.withLock { $0! }.get()
    }

    struct Unanswered: Error, CustomStringConvertible {
        var description: String { "the server did not answer within \(Int(PostgresJobQueue.answerTimeout)) s (the network or the server is down); the connection was closed" }
    }

    /// One transaction's statements.
    struct Session {
        let connection: PostgresConnection
        let logger: Logger

        func query(_ sql: String, _ values: [Value] = []) throws -> PostgresQueryResult {
            var bindings = PostgresBindings(capacity: values.count)
            for value in values {
                switch value {
                case .text(let text): bindings.append(text)
                case .integer(let n): bindings.append(n)
                case .real(let x): bindings.append(x)
                case .texts(let texts): bindings.append(texts)
                }
            }
            return try PostgresJobQueue.answer(connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger), on: connection)
        }

        /// Runs a statement; returns the rows it changed.
        @discardableResult
        func execute(_ sql: String, _ values: [Value] = []) throws -> Int { try query(sql, values).metadata.rows ?? 0 }

        func jobs(_ sql: String, _ values: [Value] = []) throws -> [Job] {
            try query(sql, values).rows.map(PostgresJobQueue.job)
        }
    }

    // MARK: Schema

    /// The schema's history, oldest first. Released migrations are never edited: the state
    /// names in them are the schema's of that day (`JobState`'s, which only grow).
    static let migrations: [(version: Int, name: String, statements: [String])] = [
        (1, "jobs", ["""
            CREATE TABLE jobs (
                id BIGSERIAL PRIMARY KEY,
                name TEXT NOT NULL,
                file_name TEXT NOT NULL,
                bundle_path TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
                attempts BIGINT NOT NULL DEFAULT 0,
                created_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                not_before DOUBLE PRECISION,
                progress TEXT,
                error TEXT,
                result_name TEXT,
                duplicate_of BIGINT REFERENCES jobs(id),
                cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
                source TEXT,
                superseded_by BIGINT REFERENCES jobs(id)
            )
            """,
            "CREATE INDEX jobs_by_state ON jobs(state, id)",
            "CREATE INDEX jobs_by_sha256 ON jobs(sha256)",
            "CREATE INDEX jobs_by_source ON jobs(source)",
            "CREATE INDEX jobs_failed_by_time ON jobs(state, finished_at)",
        ]),
        (2, "leases", [
            "ALTER TABLE jobs ADD COLUMN generation BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN lease_host TEXT",
            "ALTER TABLE jobs ADD COLUMN lease_pid INTEGER",
            "ALTER TABLE jobs ADD COLUMN lease_expires_at DOUBLE PRECISION",
            "CREATE INDEX jobs_by_lease ON jobs(state, lease_expires_at)",
        ]),
    ]

    /// Applies the pending migrations in one transaction, under an advisory lock.
    private func migrate() throws {
        try transaction("migrate the schema") { session in
            try session.execute("SELECT pg_advisory_xact_lock(\(Self.migrationLock))")
            try session.execute("CREATE SCHEMA IF NOT EXISTS \"\(settings.schema)\"")
            try session.execute("""
                CREATE TABLE IF NOT EXISTS augerino_migrations (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)
                """)
            let applied = Set(try session.query("SELECT version FROM augerino_migrations").rows.map { try $0.decode(Int64.self) })
            for migration in Self.migrations where !applied.contains(Int64(migration.version)) {
                for statement in migration.statements { try session.execute(statement) }
                try session.execute("INSERT INTO augerino_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                                    [.integer(Int64(migration.version)), .text(migration.name), .time(Date())])
            }
        }
    }

    /// The advisory lock migrations take ("augerino" in ASCII, as a number).
    static let migrationLock: Int64 = 0x6175_6765_7269_6E6F

    /// Removes the queue's schema with every table in it: for a scratch schema a benchmark
    /// made, never for a queue in use.
    public func removeSchema() throws {
        try transaction("remove the schema") { session in try session.execute("DROP SCHEMA \"\(settings.schema)\" CASCADE") }
        for connection in idle.withLock({ connections in defer { connections = [] }; return connections }) { Self.close(connection) }
    }

    /// The migrations applied, by version (for tests and `status`).
    public func appliedMigrations() throws -> [Int] {
        try transaction("read the schema's version") { session in
            try session.query("SELECT version FROM augerino_migrations ORDER BY version").rows.map { Int(try $0.decode(Int64.self)) }
        }
    }

    public var location: String { settings.location }

    /// Takes the lock of the daemon named `host` (a session advisory lock keyed by the schema
    /// and the host name) on a connection of its own, held until `release()` or the daemon's
    /// end: one daemon per host name on a queue, since a daemon at start-up takes back every
    /// running job its host name held. Daemons with different names share the queue.
    /// - Throws: `PipelineError.queueLocked` when another daemon of that name holds it; `.queue`
    ///   when the server cannot be reached.
    public func takeDaemonLock(host: String) throws -> any DaemonQueueLock {
        let connection: PostgresConnection
        do { connection = try connect() } catch { throw translated(error, step: "take the daemon lock") }
        let session = Session(connection: connection, logger: logger)
        do {
            let taken = try session.query("SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))", [.text(settings.schema), .text(host)])
                .rows[0].decode(Bool.self)
            guard taken else {
                Self.close(connection)
                throw PipelineError.queueLocked(location: settings.location, host: host)
            }
            return DaemonLock(connection: connection)
        } catch {
            if !connection.isClosed { Self.close(connection) }
            throw translated(error, step: "take the daemon lock")
        }
    }

    /// The queue's daemon lock: held while its connection is open.
    public final class DaemonLock: DaemonQueueLock {
        let connection: PostgresConnection
        init(connection: PostgresConnection) { self.connection = connection }
        /// Lets the lock go (the server also lets it go when the connection drops).
        public func release() { PostgresJobQueue.close(connection) }
        deinit { if !connection.isClosed { PostgresJobQueue.close(connection) } }
    }

    // MARK: Rows

    static let columns = """
        id, name, file_name, bundle_path, sha256, state, attempts, created_at, started_at, finished_at, not_before, \
        progress, error, result_name, duplicate_of, cancel_requested, source, superseded_by, \
        generation, lease_host, lease_pid, lease_expires_at
        """

    static func job(_ row: PostgresRow) throws -> Job {
        let cells = row.makeRandomAccess()
        func date(_ index: Int) throws -> Date? { try cells[index].decode(Double?.self).map(Date.init(timeIntervalSince1970:)) }
        let stateText = try cells[5].decode(String.self)
        let id = try cells[0].decode(Int64.self)
        guard let state = JobState(rawValue: stateText) else {
            throw PipelineError.queue(location: "", step: "read job \(id)", reason: "unknown state \(stateText)")
        }
        let progress = try cells[11].decode(String?.self).flatMap { try? JSONDecoder().decode(JobProgress.self, from: Data($0.utf8)) }
        var job = Job(id: id, name: try cells[1].decode(String.self), fileName: try cells[2].decode(String.self),
                      bundlePath: try cells[3].decode(String.self), sha256: try cells[4].decode(String.self), state: state,
                      attempts: Int(try cells[6].decode(Int64.self)), createdAt: try date(7)!, startedAt: try date(8), finishedAt: try date(9),
                      notBefore: try date(10), progress: progress, error: try cells[12].decode(String?.self),
                      resultName: try cells[13].decode(String?.self), duplicateOf: try cells[14].decode(Int64?.self),
                      cancelRequested: try cells[15].decode(Bool.self), source: try cells[16].decode(String?.self),
                      supersededBy: try cells[17].decode(Int64?.self))
        job.generation = try cells[18].decode(Int64.self)
        if let host = try cells[19].decode(String?.self), let pid = try cells[20].decode(Int32?.self), let expiry = try date(21) {
            job.lease = JobLease(host: host, pid: pid, expiresAt: expiry)
        }
        return job
    }

    /// The job, its row locked until the transaction ends.
    private func locked(_ session: Session, _ id: Int64) throws -> Job {
        guard let job = try session.jobs("SELECT \(Self.columns) FROM jobs WHERE id = $1 FOR UPDATE", [.integer(id)]).first else {
            throw PipelineError.noSuchJob(id: id)
        }
        return job
    }

    /// Moves a job as `JobLifecycle` says `action` does from its state, setting `set` too
    /// (its placeholders numbered from $3: $1 is the new state, $2 the id). A job that leaves
    /// `running` lets its lease go.
    private func transition(_ session: Session, _ id: Int64, _ action: JobAction, set: String = "", _ values: [Value] = []) throws -> Job {
        let next = try JobLifecycle.next(action, job: id, from: try locked(session, id).state)
        let leaseGone = next == .running ? "" : ", lease_host = NULL, lease_pid = NULL, lease_expires_at = NULL"
        let jobs = try session.jobs("UPDATE jobs SET state = $1\(leaseGone)\(set.isEmpty ? "" : ", " + set) WHERE id = $2 RETURNING \(Self.columns)",
                                    [.state(next), .integer(id)] + values)
        return jobs[0]
    }

    /// A move by the running job's worker: refused with `leaseLost` unless `claim` is the job's
    /// current generation (the fence), then as the table says.
    private func ownerTransition(_ session: Session, _ claim: JobClaim, _ action: JobAction, set: String = "", _ values: [Value] = []) throws -> Job {
        let job = try locked(session, claim.id)
        guard job.generation == claim.generation else {
            throw PipelineError.leaseLost(claim, now: job.generation, holder: job.lease, state: job.state, action: action)
        }
        return try transition(session, claim.id, action, set: set, values)
    }

    /// Takes running jobs from their holder, in their next generation: `expire` (leases that
    /// ran out before `now`) or `interrupt` (those of `host`, whose daemon starts again). Running
    /// jobs with no lease (left by a version before leases) count as both. Rows another
    /// connection holds are passed over: they are being moved already.
    private func takeBack(_ session: Session, _ action: JobAction, expiredBy now: Date? = nil, host: String? = nil) throws -> [Job] {
        let ids = try session.query("""
            SELECT id FROM jobs WHERE state = ANY($1) AND ($2::float8 IS NULL OR lease_expires_at IS NULL OR lease_expires_at < $2)
            AND ($3::text IS NULL OR lease_host IS NULL OR lease_host = $3) ORDER BY id FOR UPDATE\(action == .expire ? " SKIP LOCKED" : "")
            """, [.states(JobLifecycle.sources(of: action)), .time(now), .text(host)]).rows.map { try $0.decode(Int64.self) }
        return try ids.map { try transition(session, $0, action, set: "generation = generation + 1") }
    }

    // MARK: JobQueue

    public func enqueue(_ new: NewJob, now: Date) throws -> Job {
        try transaction("record a job") { session in
            // One enqueue at a time, so two copies of one bundle arriving together still find
            // each other (claims and moves of other jobs go on).
            try session.execute("SELECT pg_advisory_xact_lock(\(Self.migrationLock) + 1)")
            if let source = new.source, new.supersedes == nil, let taken = try session.jobs("""
                SELECT \(Self.columns) FROM jobs WHERE file_name = $1 AND sha256 = $2 AND source IS NOT NULL
                AND substr(source, strpos(source, ':') + 1) = $3 AND created_at >= $4 ORDER BY id LIMIT 1
                """, [.text(new.fileName), .text(new.sha256), .text(sharedInboxIdentity(source)), .time(now - sameInboxFileWindow)]).first {
                return taken  // the same inbox file, taken already (by another host sharing the inbox)
            }
            let original = try session.query("""
                SELECT id FROM jobs WHERE sha256 = $1 AND duplicate_of IS NULL AND state = ANY($2) AND id IS DISTINCT FROM $3
                ORDER BY id LIMIT 1
                """, [.text(new.sha256), .states(SQLiteJobQueue.reusable), .integer(new.supersedes)]).rows.first.map { try $0.decode(Int64.self) }
            let created = try session.jobs("""
                INSERT INTO jobs (name, file_name, bundle_path, sha256, state, created_at, duplicate_of, source)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING \(Self.columns)
                """, [.text(new.name), .text(new.fileName), .text(new.bundlePath), .text(new.sha256), .state(.queued), .time(now),
                      .integer(original), .text(new.source)])[0]
            if let old = new.supersedes {
                switch try locked(session, old).state {
                case .queued:  // it had not started, and never will (the table: → cancelled)
                    let reason = "superseded by job \(created.id): its inbox file was written again after it was taken"
                    _ = try transition(session, old, .supersede, set: "superseded_by = $3, error = $4, finished_at = $5",
                                       [.integer(created.id), .text(reason), .time(now)])
                case .running:  // asked to stop at its next batch
                    _ = try transition(session, old, .supersede, set: "superseded_by = $3, cancel_requested = TRUE", [.integer(created.id)])
                case .done, .failed, .cancelled:  // finished: it records what replaced it
                    _ = try transition(session, old, .supersede, set: "superseded_by = $3", [.integer(created.id)])
                }
            }
            return created
        }
    }

    public func job(source: String) throws -> Job? {
        try transaction("look up an inbox file's job") { session in
            try session.jobs("SELECT \(Self.columns) FROM jobs WHERE source = $1 ORDER BY id DESC LIMIT 1", [.text(source)]).first
        }
    }

    public func failureCount(since: Date, fileName: String?) throws -> FailureCount {
        try transaction("count failures") { session in
            let row = try session.query("""
                SELECT COUNT(*) FILTER (WHERE state = $1 AND finished_at >= $2), COUNT(*) FILTER (WHERE state = ANY($3))
                FROM jobs WHERE ($4::text IS NULL OR file_name = $4)
                """, [.state(.failed), .time(since), .states(SQLiteJobQueue.unfinished), .text(fileName)]).rows[0]
            let (failed, unfinished) = try row.decode((Int64, Int64).self)
            return FailureCount(failed: Int(failed), unfinished: Int(unfinished))
        }
    }

    public func claimNext(now: Date, holder: LeaseHolder) throws -> Job? {
        try transaction("claim a job") { session in
            _ = try takeBack(session, .expire, expiredBy: now)
            // SKIP LOCKED: a row another connection is claiming (or moving) is passed over, not waited for.
            guard let id = try session.query("""
                SELECT id FROM jobs WHERE state = ANY($1) AND (not_before IS NULL OR not_before <= $2)
                AND (duplicate_of IS NULL OR (SELECT o.state FROM jobs o WHERE o.id = jobs.duplicate_of) <> ALL($3))
                ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
                """, [.states(JobLifecycle.sources(of: .claim)), .time(now), .states(SQLiteJobQueue.unfinished)]).rows.first
                .map({ try $0.decode(Int64.self) }) else { return nil }
            let lease = holder.lease(from: now)
            return try transition(session, id, .claim,
                                  set: "started_at = COALESCE(started_at, $3), generation = generation + 1, lease_host = $4, lease_pid = $5, lease_expires_at = $6",
                                  [.time(now), .text(lease.host), .integer(Int64(lease.pid)), .time(lease.expiresAt)])
        }
    }

    public func renewLease(_ claim: JobClaim, now: Date, duration: TimeInterval) throws -> Job {
        try transaction("renew a lease") { session in
            try ownerTransition(session, claim, .renew, set: "lease_expires_at = $3", [.time(now + duration)])
        }
    }

    public func recordProgress(_ claim: JobClaim, _ progress: JobProgress) throws {
        let text = String(decoding: try JSONEncoder().encode(progress), as: UTF8.self)
        try transaction("record progress") { session in
            // A job of this generation no longer running (cancelled meanwhile) keeps what it had: not an error.
            let job = try locked(session, claim.id)
            guard job.generation != claim.generation || JobLifecycle.table[.recordProgress]?[job.state] != nil else { return }
            _ = try ownerTransition(session, claim, .recordProgress, set: "progress = $3", [.text(text)])
        }
    }

    public func isCancelRequested(id: Int64) throws -> Bool {
        try transaction("read a cancel request") { session in
            try session.query("SELECT cancel_requested FROM jobs WHERE id = $1", [.integer(id)]).rows.first.map { try $0.decode(Bool.self) } ?? false
        }
    }

    public func reserveResult(_ claim: JobClaim, name: String) throws {
        _ = try transaction("reserve a result name") { session in try ownerTransition(session, claim, .reserveResult, set: "result_name = $3", [.text(name)]) }
    }

    public func complete(_ claim: JobClaim, resultName: String, now: Date) throws {
        _ = try transaction("complete a job") { session in
            try ownerTransition(session, claim, .complete, set: "result_name = $3, finished_at = $4, error = NULL", [.text(resultName), .time(now)])
        }
    }

    public func fail(_ claim: JobClaim, error: String, bundlePath: String, now: Date) throws {
        _ = try transaction("fail a job") { session in
            try ownerTransition(session, claim, .fail, set: "error = $3, bundle_path = $4, finished_at = $5", [.text(error), .text(bundlePath), .time(now)])
        }
    }

    public func retryLater(_ claim: JobClaim, error: String, notBefore: Date, countsAttempt: Bool) throws {
        _ = try transaction("queue a job again") { session in
            try ownerTransition(session, claim, .retryLater, set: "error = $3, not_before = $4, attempts = attempts + $5",
                           [.text(error), .time(notBefore), .integer(countsAttempt ? 1 : 0)])
        }
    }

    public func requeue(_ claim: JobClaim) throws {
        _ = try transaction("requeue a job") { session in try ownerTransition(session, claim, .requeue) }
    }

    public func markCancelled(_ claim: JobClaim, bundlePath: String, now: Date) throws {
        _ = try transaction("mark a job cancelled") { session in
            try ownerTransition(session, claim, .markCancelled, set: "bundle_path = $3, finished_at = $4", [.text(bundlePath), .time(now)])
        }
    }

    public func requeueInterrupted(host: String) throws -> [Job] {
        try transaction("requeue interrupted jobs") { session in try takeBack(session, .interrupt, host: host) }
    }

    public func detachDuplicate(id: Int64) throws {
        _ = try transaction("detach a duplicate") { session in try session.execute("UPDATE jobs SET duplicate_of = NULL WHERE id = $1", [.integer(id)]) }
    }

    public func cancel(id: Int64, now: Date) throws -> Job {
        try transaction("cancel a job") { session in
            // Queued: cancelled at once. Running: asked to stop; the worker marks it cancelled.
            try JobLifecycle.next(.cancel, job: id, from: try locked(session, id).state) == .cancelled
                ? transition(session, id, .cancel, set: "finished_at = $3", [.time(now)])
                : transition(session, id, .cancel, set: "cancel_requested = TRUE")
        }
    }

    public func relocateCancelledBundle(id: Int64, from: String, to: String) throws -> Bool {
        try transaction("record a cancelled bundle's move") { session in
            try session.execute("UPDATE jobs SET bundle_path = $1 WHERE id = $2 AND state = $3 AND bundle_path = $4",
                                [.text(to), .integer(id), .state(.cancelled), .text(from)]) > 0
        }
    }

    public func retry(id: Int64) throws -> Job {
        try transaction("retry a job") { session in
            try transition(session, id, .retry,
                           set: "attempts = 0, error = NULL, not_before = NULL, cancel_requested = FALSE, finished_at = NULL, result_name = NULL, progress = NULL")
        }
    }

    public func job(id: Int64) throws -> Job? {
        try transaction("read a job") { session in try session.jobs("SELECT \(Self.columns) FROM jobs WHERE id = $1", [.integer(id)]).first }
    }

    public func jobs(state: JobState?) throws -> [Job] {
        try transaction("list jobs") { session in
            guard let state else { return try session.jobs("SELECT \(Self.columns) FROM jobs ORDER BY id") }
            return try session.jobs("SELECT \(Self.columns) FROM jobs WHERE state = $1 ORDER BY id", [.state(state)])
        }
    }

    public func counts() throws -> [JobState: Int] {
        try transaction("count jobs") { session in
            var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try session.query("SELECT state, COUNT(*) FROM jobs GROUP BY state").rows {
                let (state, n) = try row.decode((String, Int64).self)
                if let state = JobState(rawValue: state) { counts[state] = Int(n) }
            }
            return counts
        }
    }

    public func bundlePaths() throws -> Set<String> {
        try transaction("list bundles") { session in Set(try session.query("SELECT bundle_path FROM jobs").rows.map { try $0.decode(String.self) }) }
    }
}
#endif
