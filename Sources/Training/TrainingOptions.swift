import Invariance

/// Training settings that may be left open: the command line's flags, or daemon.conf's
/// `[training]` defaults. A run takes each setting from its flag, else the bundle's manifest,
/// else daemon.conf, else the built-in default (`TrainingOptions.builtIn`).
public struct TrainingOptions: Sendable, Equatable, Codable {
    public var epochs: Int?
    public var batchSize: Int?
    public var learningRate: Float?
    public var regularization: Float?
    public var testCopies: Int?
    public var seed: UInt64?
    public var width: Int?
    public var rewardUnits: RewardUnits?
    public var schedule: ScheduleKind?
    /// When set, the width reward is off while any width exceeds it (the reference's bounded
    /// variant); 0 in daemon.conf or the flags means no cap.
    public var rewardCap: Float?
    /// The widths' own learning rate (0 freezes them); nil here and in every fallback: the
    /// network's.
    public var widthLearningRate: Float?
    /// Held-out images the invariance probes use after training (0: no probes).
    public var probeImages: Int?
    /// What trains the widths: the reward λ·‖θ‖, or the last layer's Laplace evidence.
    public var objective: WidthObjective?

    public init(epochs: Int? = nil, batchSize: Int? = nil, learningRate: Float? = nil, regularization: Float? = nil,
                testCopies: Int? = nil, seed: UInt64? = nil, width: Int? = nil, rewardUnits: RewardUnits? = nil, probeImages: Int? = nil,
                schedule: ScheduleKind? = nil, rewardCap: Float? = nil, widthLearningRate: Float? = nil, objective: WidthObjective? = nil) {
        self.objective = objective
        (self.schedule, self.rewardCap, self.widthLearningRate) = (schedule, rewardCap, widthLearningRate)
        (self.epochs, self.batchSize, self.learningRate, self.regularization) = (epochs, batchSize, learningRate, regularization)
        (self.testCopies, self.seed, self.width, self.rewardUnits, self.probeImages) = (testCopies, seed, width, rewardUnits, probeImages)
    }

    /// The defaults when neither flags, manifest nor daemon.conf say otherwise.
    /// Epochs and λ are left open: `TrainingRun` derives them from the data
    /// (`TrainingRun.defaultEpochs`, `TrainingRun.defaultRegularization`).
    public static let builtIn = TrainingOptions(epochs: nil, batchSize: 128, learningRate: 0.01, regularization: nil, testCopies: 4,
                                                seed: 0, width: 32, rewardUnits: .displacement, probeImages: 250, schedule: .cosine, rewardCap: 0,
                                                objective: .reward)

    /// Each setting from `self`, else from `fallback`.
    public func orElse(_ fallback: TrainingOptions) -> TrainingOptions {
        TrainingOptions(epochs: epochs ?? fallback.epochs, batchSize: batchSize ?? fallback.batchSize,
                        learningRate: learningRate ?? fallback.learningRate, regularization: regularization ?? fallback.regularization,
                        testCopies: testCopies ?? fallback.testCopies, seed: seed ?? fallback.seed, width: width ?? fallback.width,
                        rewardUnits: rewardUnits ?? fallback.rewardUnits, probeImages: probeImages ?? fallback.probeImages,
                        schedule: schedule ?? fallback.schedule, rewardCap: rewardCap ?? fallback.rewardCap,
                        widthLearningRate: widthLearningRate ?? fallback.widthLearningRate, objective: objective ?? fallback.objective)
    }
}
