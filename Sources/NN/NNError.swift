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

    public var description: String {
        switch self {
        case let .stateMismatch(source, problems):
            return "\(source): does not match the model: \(problems.joined(separator: "; "))"
                + "; hint: load a file saved from the same architecture and width"
        case let .invalidSafetensors(file, rule):
            return "\(file): not a valid safetensors file: \(rule); hint: write it with augerino or Python's safetensors (F32 tensors)"
        case let .io(file, reason):
            return "\(file): \(reason)"
        case let .invalidCheckpoint(file, rule):
            return "\(file): unusable checkpoint: \(rule); hint: delete it to start the run again from the beginning"
        }
    }
}
