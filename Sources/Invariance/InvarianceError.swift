import Foundation

/// What can go wrong while learning invariances, each a sentence with a hint.
public enum InvarianceError: Error, Equatable, CustomStringConvertible {
    /// The task loss became NaN or infinite.
    case diverged(epoch: Int, batch: Int, loss: Float, learningRate: Float)

    /// What went wrong, and where.
    public var problem: String {
        switch self {
        case let .diverged(epoch, batch, loss, _):
            return "training diverged: the loss is \(loss) at epoch \(epoch), batch \(batch) (rule: the loss must stay finite)"
        }
    }

    /// What to do about it.
    public var hint: String? {
        switch self {
        case let .diverged(_, _, _, learningRate): return "lower the learning rate (now \(learningRate)) or check the targets' scale"
        }
    }

    public var description: String { problem + (hint.map { "; hint: \($0)" } ?? "") }
}

extension InvarianceError: LocalizedError {
    public var errorDescription: String? { description }
    public var recoverySuggestion: String? { hint }
}
