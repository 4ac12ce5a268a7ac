/// What can go wrong while learning invariances, each a sentence with a hint.
public enum InvarianceError: Error, Equatable, CustomStringConvertible {
    /// The task loss became NaN or infinite.
    case diverged(epoch: Int, batch: Int, loss: Float, learningRate: Float)

    public var description: String {
        switch self {
        case let .diverged(epoch, batch, loss, learningRate):
            return "training diverged: the loss is \(loss) at epoch \(epoch), batch \(batch) (rule: the loss must stay finite); " +
                "lower the learning rate (now \(learningRate)) or check the targets' scale"
        }
    }
}
