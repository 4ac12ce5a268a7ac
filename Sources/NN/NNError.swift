import Foundation

/// Errors a user of the training library can cause (a bad model file, a model that does not
/// match a file). Each description names the file or source, what is wrong and what to do.
public enum NNError: Error, Equatable, CustomStringConvertible {
    /// Loading values into a model: entries missing, unexpected or of the wrong shape.
    case stateMismatch(source: String, problems: [String])
    /// A safetensors file that breaks the format; `rule` says which part.
    case invalidSafetensors(file: String, rule: String)
    /// A file that could not be read or written.
    case io(file: String, reason: String)
    /// A checkpoint that does not belong to this run.
    case invalidCheckpoint(file: String, rule: String)

    /// What is wrong, naming the file or source.
    public var problem: String {
        switch self {
        case let .stateMismatch(source, problems): return "\(source): does not match the model: \(problems.joined(separator: "; "))"
        case let .invalidSafetensors(file, rule): return "\(file): not a valid safetensors file: \(rule)"
        case let .io(file, reason): return "\(file): \(reason)"
        case let .invalidCheckpoint(file, rule): return "\(file): unusable checkpoint: \(rule)"
        }
    }

    /// What to do about it.
    public var hint: String? {
        switch self {
        case .stateMismatch: return "load a file saved from the same architecture and width"
        case .invalidSafetensors: return "write it with augerino or Python's safetensors (F32 tensors)"
        case .io: return nil
        case .invalidCheckpoint: return "delete it to start the run again from the beginning"
        }
    }

    public var description: String { problem + (hint.map { "; hint: \($0)" } ?? "") }
}

extension NNError: LocalizedError {
    public var errorDescription: String? { description }
    public var recoverySuggestion: String? { hint }
}
