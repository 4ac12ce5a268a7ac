import Foundation

/// Where a PostgreSQL job queue lives: daemon.conf's `[queue]` (docs/configuration.md). The
/// password never appears in the URL, in messages or in logs: it comes from a file or the
/// environment.
public struct PostgresQueueSettings: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The folder of the server's Unix socket (`?host=/run/postgresql`), and its port.
        case socket(folder: String, port: Int)
    }

    /// How the connection is encrypted.
    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        /// No TLS: loopback and Unix sockets.
        case disable
        /// TLS when the server offers it.
        case prefer
        /// TLS, with the server's certificate checked against the system's trust store.
        case require
    }

    public var endpoint: Endpoint
    public var user: String
    public var database: String
    /// The schema that holds the queue's tables (several deployments may share one database).
    public var schema: String
    public var password: String?
    public var tls: TLSMode

    public init(endpoint: Endpoint, user: String, database: String, schema: String = "augerino", password: String? = nil, tls: TLSMode = .disable) {
        (self.endpoint, self.user, self.database, self.schema, self.password, self.tls) = (endpoint, user, database, schema, password, tls)
    }

    /// Whether this build has the PostgreSQL queue (the package trait PostgreSQL, Package.swift).
    public static var isBuilt: Bool {
        #if PostgreSQL
        return true
        #else
        return false
        #endif
    }

    /// Why a build without it refuses a PostgreSQL queue, and what to do (a sentence's end).
    public static let notBuilt = "needs the PostgreSQL queue, which this augerino was built without: build it with `swift build -c release --traits PostgreSQL` (or leave [queue] out for the embedded SQLite queue)"

    /// The queue's address for messages and logs: never the password.
    public var location: String {
        let place: String
        switch endpoint {
        case let .tcp(host, port): place = "\(host):\(port)"
        case let .socket(folder, port): place = "\(folder) (socket, port \(port))"
        }
        return "postgresql://\(user)@\(place)/\(database) (schema \(schema))"
    }

    /// The socket file for `.socket`.
    var socketPath: String? {
        if case let .socket(folder, port) = endpoint { return "\(folder)/.s.PGSQL.\(port)" }
        return nil
    }

    /// Reads `postgresql://USER@HOST[:PORT]/DATABASE[?schema=S&host=/socket/folder&tls=MODE]`.
    /// - Returns: the settings, or the rule the text breaks (a sentence's end).
    public static func parse(url text: String) -> Result<PostgresQueueSettings, RuleBroken> {
        guard let components = URLComponents(string: text), ["postgresql", "postgres"].contains(components.scheme ?? "") else {
            return .failure(RuleBroken("must be a URL postgresql://USER@HOST[:PORT]/DATABASE"))  // not the text: it may hold a password
        }
        guard components.password == nil else {
            return .failure(RuleBroken("must not hold the password (it would be logged and shown): put it in `password_file`, or in the environment variable AUGERINO_QUEUE_PASSWORD"))
        }
        guard let user = components.user, !user.isEmpty else { return .failure(RuleBroken("names no user: postgresql://USER@HOST/DATABASE")) }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { return .failure(RuleBroken("names no database: postgresql://USER@HOST/DATABASE")) }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard ["schema", "host", "tls"].contains(item.name), let value = item.value, !value.isEmpty, query[item.name] == nil else {
                return .failure(RuleBroken("has the parameter \"\(item.name)\"; the parameters are schema, host (a socket folder) and tls, each once with a value"))
            }
            query[item.name] = value
        }
        let schema = query["schema"] ?? "augerino"
        guard schema.count <= 63, schema.first.map({ $0.isLetter || $0 == "_" }) == true,
              schema.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            return .failure(RuleBroken("schema \"\(schema)\" must be 1-63 ASCII letters, digits or _, not starting with a digit"))
        }
        guard let tls = TLSMode(rawValue: query["tls"] ?? "disable") else {
            return .failure(RuleBroken("tls must be \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        let port = components.port ?? 5432
        guard (1...65_535).contains(port) else { return .failure(RuleBroken("port \(port) must be from 1 to 65535")) }
        let endpoint: Endpoint
        if let folder = query["host"] {
            guard folder.hasPrefix("/"), components.host?.isEmpty ?? true else {
                return .failure(RuleBroken("host=\(folder) must be the absolute folder of the server's socket, with no host before the database"))
            }
            endpoint = .socket(folder: folder, port: port)
        } else {
            guard let host = components.host, !host.isEmpty else { return .failure(RuleBroken("names no host: postgresql://USER@HOST/DATABASE, or ?host=/socket/folder")) }
            endpoint = .tcp(host: host, port: port)
        }
        return .success(PostgresQueueSettings(endpoint: endpoint, user: user, database: database, schema: schema, tls: tls))
    }

    /// A rule a setting breaks, as the end of a sentence.
    public struct RuleBroken: Error, Equatable, CustomStringConvertible {
        public let rule: String
        init(_ rule: String) { self.rule = rule }
        public var description: String { rule }
    }
}
