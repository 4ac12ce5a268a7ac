/// Everything that, with the data and the seed, fixes a training run.
public struct TrainingSettings: Sendable, Equatable, Codable {
    public var epochs: Int = 10
    public var batchSize: Int = 128
    /// Adam's learning rate, shared by the network and the widths.
    public var learningRate: Float = 0.01
    /// Adam's learning rate for the widths when it should differ from the network's (0 freezes
    /// them at their initial values, to force an invariance); nil: `learningRate`.
    public var widthLearningRate: Float? = nil
    /// Weight decay on the network only (Adam, L2).
    public var weightDecay: Float = 1e-4
    /// λ in loss = task loss − λ·‖θ‖₂.
    public var regularization: Float = 0.01
    /// When set, the width reward switches off while any width exceeds this cap (the
    /// reference's bounded variant).
    public var rewardCap: Float? = nil
    /// How widths are weighed in the reward ‖θ‖: as parameters (the reference), or by how far
    /// each generator moves the image (translations, scaled by 0.1 in the reference, move
    /// points about 8 times less per unit than the others; see `AffineGenerator.displacement`).
    public var rewardUnits: RewardUnits = .parameter
    /// The learning rate over training: constant (the reference), or cosine annealing to zero
    /// over all epochs (network and widths alike).
    public var schedule: ScheduleKind = .constant
    /// What sets the widths: the spread of the data's own images, read before training and
    /// held (no weight), Augerino's reward λ·‖θ‖ (`regularization`, `rewardUnits`,
    /// `rewardCap`), or the last layer's Laplace evidence. A run's default depends on its task
    /// (Training's `RunSettings.defaultObjective`: the reward for regression).
    public var objective: WidthObjective = .spread
    /// Augmented copies averaged at evaluation.
    public var testCopies: Int = 4
    public var seed: UInt64 = 0

    public init() {}
}

/// How the learning rate moves over training.
public enum ScheduleKind: String, Sendable, Equatable, Codable, CaseIterable {
    case constant, cosine
}

/// What the widths are trained to maximise.
public enum WidthObjective: String, Sendable, Equatable, Codable, CaseIterable {
    /// Benton et al.: task loss − λ·‖θ‖, one augmented copy per example.
    case reward
    /// The log marginal likelihood of the augmentation-averaged model under a Laplace
    /// approximation of its last layer (`EvidenceStep`): no λ.
    case evidence
    /// The spread the data's own images show along each generator within a class, read before
    /// training by aligning each class's images to one another (`SpreadEstimator`); the widths
    /// are then held: no λ.
    case spread
}

/// The units of the width reward.
public enum RewardUnits: String, Sendable, Equatable, Codable, CaseIterable {
    case parameter, displacement
}

/// One epoch's numbers, as report.json's "history" records them.
public struct EpochRecord: Sendable, Equatable, Codable {
    public var epoch: Int
    /// Mean task loss over the epoch's batches (without the width reward).
    public var trainLoss: Double
    /// Training accuracy (classification) or MSE (regression) over the epoch's batches.
    public var trainMetric: Double
    /// Held-out accuracy or MSE of one plain pass (no augmented copies) over at most 2,000
    /// held-out images, when there are any.
    public var testMetric: Double?
    /// Learned full widths θ by generator name.
    public var theta: [String: Float]
    /// The whole epoch, its evaluation included.
    public var seconds: Double
    /// The part of `seconds` spent on `testMetric` (absent in reports written before it was kept).
    public var evaluationSeconds: Double?

    public init(epoch: Int, trainLoss: Double, trainMetric: Double, testMetric: Double?, theta: [String: Float], seconds: Double,
                evaluationSeconds: Double? = nil) {
        (self.epoch, self.trainLoss, self.trainMetric, self.testMetric) = (epoch, trainLoss, trainMetric, testMetric)
        (self.theta, self.seconds, self.evaluationSeconds) = (theta, seconds, evaluationSeconds)
    }

    enum CodingKeys: String, CodingKey {
        case epoch, seconds, theta
        case trainLoss = "train_loss", trainMetric = "train_metric", testMetric = "test_metric", evaluationSeconds = "evaluation_seconds"
    }
}
