import Foundation

/// Errors of re-rendering a result's pages, each a sentence that names the file and the fix.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    /// The folder holds no readable report.json.
    case missing(file: String)
    /// report.json is there but is not a report this version reads.
    case notAReport(file: String, reason: String)

    public var problem: String {
        switch self {
        case .missing(let file): return "\(file): no such file, so its folder is not a result folder"
        case let .notAReport(file, reason): return "\(file): not a report this version reads (\(reason))"
        }
    }

    public var hint: String? {
        switch self {
        case .missing: return "give outbox/NAME or the --out of `augerino train` (a failed job's folder holds error.json instead)"
        case .notAReport: return "train again, or render it with the version that wrote it"
        }
    }

    public var description: String { problem + (hint.map { "; hint: \($0)" } ?? "") }
}

extension ReportError: LocalizedError {
    public var errorDescription: String? { description }
    public var recoverySuggestion: String? { hint }
}
