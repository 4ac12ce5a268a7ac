import Foundation

/// How the learning rate changes over training, as a factor of the base rate at each step.
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    /// Always the base rate.
    case constant
    /// Cosine annealing from the base rate to base·floor over `totalSteps` (PyTorch's
    /// CosineAnnealingLR with eta_min = base·floor).
    case cosine(totalSteps: Int, floor: Float)
    /// Multiplied by `gamma` every `every` steps (PyTorch's StepLR).
    case step(every: Int, gamma: Float)

    /// The factor at `step` (0 for the first).
    public func factor(at step: Int) -> Float {
        switch self {
        case .constant:
            return 1
        case let .cosine(total, floor):
            let progress = Double(min(step, total)) / Double(max(1, total))
            return floor + (1 - floor) * Float((1 + cos(Double.pi * progress)) / 2)
        case let .step(every, gamma):
            return Float(pow(Double(gamma), Double(step / max(1, every))))
        }
    }
}
