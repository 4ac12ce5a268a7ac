import Foundation
import NN

/// Trains a network together with the learned affine augmentation, one augmented copy per
/// example, Adam on both (weight decay on the network only). What sets the widths is
/// `TrainingSettings.objective`: by default the spread read before the first epoch
/// (`SpreadEstimator`), then held; or Augerino's loss = task loss − λ·‖θ‖₂ (θ optionally
/// weighed by each generator's displacement, `TrainingSettings.rewardUnits`); or, after each
/// network step on the task loss alone, a step of the widths on the last layer's Laplace
/// evidence (`EvidenceStep`).
///
/// Deterministic for a seed: one `RandomGenerator` drives shuffling, dropout and augmentation
/// in a fixed order, and evaluation draws from its own stream, so checkpoints taken after an
/// epoch resume bit-exactly (`checkpoint()` / `restore(_:)`).
public final class InvarianceTrainer {
    public let network: Sequential
    /// The affine distribution, with the mirrors (`augmentation.symmetry`) when the run learns
    /// any: their probabilities train under the reward (the score function's gradient, beside
    /// the widths') and are read by the spread objective (`SymmetrySpread`, before the poses).
    public let augmentation: AffineAugmentation
    /// Brightness, contrast, gamma, saturation and hue, applied after the warp when given. Its
    /// widths train with the affine ones under the reward, are read with them by the spread
    /// objective (`PhotometricSpread`); the evidence objective refuses them.
    public let photometric: PhotometricAugmentation?
    public let task: LearningTask
    public let settings: TrainingSettings
    public let optimizer: Adam
    public private(set) var random: RandomGenerator
    public private(set) var epoch = 0
    public private(set) var step = 0
    public private(set) var history: [EpochRecord] = []
    /// When set, the learning rate goes from the schedule's value at `fromStep` linearly to 0 at
    /// `toStep` (a run whose answer settled ends early; `SettledAnswer` in Training).
    public var anneal: (fromStep: Int, toStep: Int)?
    private let rewardWeights = Tensor(shape: [6], values: AffineGenerator.allCases.map(\.displacement))

    public init(network spec: NetworkSpec, augmentation: AffineAugmentation, photometric: PhotometricAugmentation? = nil,
                task: LearningTask, settings: TrainingSettings) {
        var random = RandomGenerator(seed: settings.seed)
        network = spec.makeNetwork(random: &random)
        self.augmentation = augmentation
        self.photometric = photometric
        self.task = task
        self.settings = settings
        optimizer = Adam([ParameterGroup(network.parameters.map(\.tensor), learningRate: settings.learningRate, weightDecay: settings.weightDecay),
                          ParameterGroup([augmentation.rawWidths] + (photometric.map { [$0.rawWidths] } ?? [])
                                            + (augmentation.symmetry.map { [$0.rawLogits] } ?? []),
                                         learningRate: settings.widthLearningRate ?? settings.learningRate, weightDecay: 0)])
        self.random = random.stream(1)
    }

    public var predictor: AveragedPredictor { AveragedPredictor(network: network, augmentation: augmentation, photometric: photometric, task: task) }

    /// One pass over `train` in shuffled batches (the last partial batch is dropped when it has
    /// fewer than two images, which batch norm cannot normalise). `progress(done, total)` is
    /// called after every batch; what it throws stops the epoch (the trainer is then mid-epoch:
    /// continue from the last `checkpoint()`, not from this object).
    /// - Throws: `InvarianceError.diverged` when the loss stops being finite, or what
    ///   `progress` throws.
    public func trainEpoch(_ train: ImageDataset, test: ImageDataset? = nil, progress: (Int, Int) throws -> Void = { _, _ in }) throws -> EpochRecord {
        let start = Date()
        let batches = Self.batchStarts(images: train.count, batchSize: settings.batchSize)
        if settings.objective == .spread && step == 0 && settings.widthLearningRate != 0 {
            // The reading is part of the first epoch: it reports as the epoch's batch 0, so a
            // caller that logs or stops on progress still hears from it. A width learning rate
            // of 0 forces the initial widths, so nothing is read then.
            try readSpread(train) { _, _ in try progress(0, batches.count) }
        }
        network.train()
        let order = random.permutation(train.count)
        let batchSize = min(settings.batchSize, train.count)
        var lossSum = 0.0, metricSum = 0.0, seen = 0
        for (done, first) in batches.enumerated() {
            let indices = order[first..<min(first + batchSize, train.count)]
            if settings.schedule == .cosine {
                let cosine = LearningRateSchedule.cosine(totalSteps: settings.epochs * batches.count, floor: 0)
                var factor = cosine.factor(at: step)
                if let anneal, step >= anneal.fromStep {
                    factor = cosine.factor(at: anneal.fromStep) * Float(max(0, 1 - Double(step - anneal.fromStep) / Double(max(1, anneal.toStep - anneal.fromStep))))
                }
                optimizer.setLearningRates([settings.learningRate * factor, (settings.widthLearningRate ?? settings.learningRate) * factor])
            }
            let (transforms, mirrors) = augmentation.sampleTransformsAndMirrors(count: indices.count, random: &random)
            var augmented = Tensor.affineWarp(train.batch(indices), theta: transforms)
            if let photometric { augmented = photometric(augmented, random: &random) }
            let output = network(augmented, random: &random)
            let taskLoss: Tensor
            switch task {
            case .classification:
                let labels = train.labels(indices)
                taskLoss = Tensor.crossEntropy(output, labels: labels)
                metricSum += Double(zip(AveragedPredictor.classes(output), labels).filter { $0 == Int($1) }.count)
            case .regression:
                taskLoss = Tensor.mse(output, train.targetTensor(indices))
                metricSum += Double(taskLoss.item) * Double(indices.count)
            }
            guard taskLoss.item.isFinite else {
                throw InvarianceError.diverged(epoch: epoch + 1, batch: done + 1, loss: taskLoss.item, learningRate: settings.learningRate)
            }
            switch settings.objective {
            case .reward:
                let widths = augmentation.widths
                let photometricWidths = photometric?.widths
                let rewardOn = settings.rewardCap.map { cap in (widths.values + (photometricWidths?.values ?? [])).allSatisfy { $0 <= cap } } ?? true
                let weighed = settings.rewardUnits == .parameter ? widths : widths * rewardWeights
                // ‖θ‖ over every learned width; the photometric ones (log-factors) count as they
                // are, a mirror's probability p as 2p (1 at p = ½, the most it can be).
                let doubled = augmentation.symmetry.map { $0.probabilities.scaled(by: 2) }
                let norm = photometricWidths == nil && doubled == nil ? weighed.norm()
                    : [photometricWidths, doubled].compactMap { $0 }.reduce((weighed * weighed).sum()) { $0 + ($1 * $1).sum() }.squareRoot()
                var loss = rewardOn ? taskLoss - norm.scaled(by: settings.regularization) : taskLoss
                if let mirrors, let symmetry = augmentation.symmetry {
                    // The draws are discrete: their probabilities' gradient is the score function's.
                    let losses = Self.exampleLosses(output, targets: indices.map { train.targets[$0] }, task: task)
                    loss = loss + symmetry.surrogate(gradient: symmetry.scoreFunctionGradient(losses: losses, draws: mirrors))
                }
                optimizer.zeroGradients()
                loss.backward()
                optimizer.step()
            case .spread:
                optimizer.zeroGradients()
                taskLoss.backward()
                optimizer.step(groups: [0])
            case .evidence:
                optimizer.zeroGradients()
                taskLoss.backward()
                optimizer.step(groups: [0])
                optimizer.zeroGradients()
                let evidence = EvidenceStep(network: network, augmentation: augmentation, task: task)
                // σ² for regression: the last epoch's training MSE (checkpointed with the history).
                let noiseVariance = history.last.map(\.trainLoss) ?? 1
                if evidence.objective(train, indices: indices, trainImages: train.count, weightDecay: settings.weightDecay,
                                      noiseVariance: noiseVariance, random: &random) != nil {
                    optimizer.step(groups: [1])
                }
            }
            lossSum += Double(taskLoss.item) * Double(indices.count)
            seen += indices.count
            step += 1
            try progress(done + 1, batches.count)
        }
        epoch += 1
        // The epoch's held-out metric: one plain pass (no augmented copies), a progress reading
        // and the stopping rule's input, at about a tenth of an epoch's cost; the report's final
        // metrics average `testCopies` copies over the whole test split.
        let evaluationStart = Date()
        let testMetric = test.map { evaluate($0, copies: 0) }
        let record = EpochRecord(epoch: epoch, trainLoss: lossSum / Double(max(1, seen)), trainMetric: metricSum / Double(max(1, seen)),
                                 testMetric: testMetric,
                                 theta: widthsByName,
                                 seconds: Date().timeIntervalSince(start),
                                 evaluationSeconds: test == nil ? nil : Date().timeIntervalSince(evaluationStart))
        history.append(record)
        return record
    }

    /// Every learned width's θ by name: the affine generators', then the photometric families';
    /// for a mirror or quarter turn, its probability p.
    public var widthsByName: [String: Float] {
        var widths = Dictionary(uniqueKeysWithValues: augmentation.widthValues.map { ($0.key.rawValue, $0.value) })
        if let photometric {
            let values = photometric.widthValues
            for family in photometric.learned { widths[family.rawValue] = values[family] }
        }
        if let symmetry = augmentation.symmetry {
            let values = symmetry.probabilityValues
            for family in symmetry.learned { widths[family.rawValue] = values[family] }
        }
        return widths
    }

    /// Each example's own loss (no gradient): cross-entropy of its logits, or squared error.
    public static func exampleLosses(_ output: Tensor, targets: [Float], task: LearningTask) -> [Float] {
        let values = output.values, width = output.shape[1]
        return targets.enumerated().map { i, target in
            let row = values[(i * width)..<((i + 1) * width)]
            switch task {
            case .classification:
                let top = row.max() ?? 0
                let logSum = top + Foundation.log(row.reduce(Float(0)) { $0 + Foundation.exp($1 - top) })
                return logSum - row[i * width + Int(target)]
            case .regression:
                return (row[i * width] - target) * (row[i * width] - target)
            }
        }
    }

    /// The widths the spread objective holds: read once, before the first epoch, by aligning
    /// each class's training images to one another (`SpreadEstimator`), on a random stream of
    /// its own (the network's draws are those of a run without it). Not kept in checkpoints: a
    /// resumed run has its widths already.
    public private(set) var spreadEstimate: SpreadEstimator.Estimate?
    /// How the spread is read (tests make it smaller).
    public lazy var spreadEstimator: SpreadEstimator = {
        var estimator = SpreadEstimator(estimated: augmentation.learned)
        estimator.symmetries = augmentation.symmetry?.learned ?? []
        // A regression's groups are quantiles of its target, not kinds of thing: a group's
        // template is a blur of different shapes, and a turn searched against it finds the
        // nearest shape, not a pose (the angle-regression control read ±54° with the search,
        // ±31° without; docs/performance.md).
        if case .regression = task { (estimator.alignment.turnStep, estimator.groupsFollowATarget) = (0, true) }
        return estimator
    }()

    /// Reads the spread of `train` and sets the widths to it (what the spread objective does
    /// before its first epoch); `progress(done, total)` hears each alignment step.
    public func readSpread(_ train: ImageDataset, progress: (Int, Int) throws -> Void = { _, _ in }) throws {
        if !augmentation.learned.isEmpty || augmentation.symmetry != nil {
            var random = RandomGenerator(seed: settings.seed).stream(2)
            let estimate = try spreadEstimator.estimate(train, group: SpreadEstimator.grouping(task: task, reference: train.targets),
                                                        random: &random, progress: progress)
            spreadEstimate = estimate
            augmentation.setWidths(estimate.widths)
            if let symmetry = augmentation.symmetry, let mirrors = estimate.symmetry { symmetry.setProbabilities(mirrors.probabilities) }
        }
        if let photometric {
            var photometricRandom = RandomGenerator(seed: settings.seed).stream(3)
            let read = PhotometricSpread(estimated: photometric.learned)
                .estimate(train, gain: photometric.gain, offset: photometric.offset,
                          group: SpreadEstimator.grouping(task: task, reference: train.targets), random: &photometricRandom)
            photometricSpreadEstimate = read
            photometric.setWidths(read.widths)
        }
    }

    /// The photometric families' widths the spread objective holds (`PhotometricSpread`), read
    /// with the affine ones.
    public private(set) var photometricSpreadEstimate: PhotometricSpread.Estimate?

    /// Where each batch of an epoch of `images` training images starts: batches of `batchSize`,
    /// the last one dropped when it has fewer than two images (batch norm cannot normalise one).
    static func batchStarts(images: Int, batchSize: Int) -> [Int] {
        stride(from: 0, to: images, by: max(1, min(batchSize, images))).filter { images - $0 >= 2 }
    }

    /// Steps in one epoch of `images` training images (`batchStarts`).
    public static func batchesPerEpoch(images: Int, batchSize: Int) -> Int { batchStarts(images: images, batchSize: batchSize).count }

    /// Accuracy (classification) or MSE (regression) on `data` with `copies` augmented copies
    /// averaged (0: one pass without augmentation). Uses its own random stream. `progress`
    /// hears the images done after each batch.
    public func evaluate(_ data: ImageDataset, copies: Int, batchSize: Int = 250, progress: (Int) -> Void = { _ in }) -> Double {
        var evaluationRandom = RandomGenerator(seed: settings.seed).stream(1 << 40)
        var correct = 0.0
        for first in stride(from: 0, to: data.count, by: batchSize) {
            let indices = first..<min(first + batchSize, data.count)
            let scores = predictor.predict(data.batch(indices), copies: copies, random: &evaluationRandom)
            switch task {
            case .classification:
                correct += Double(zip(AveragedPredictor.classes(scores), data.labels(indices)).filter { $0 == Int($1) }.count)
            case .regression:
                let v = scores.values
                correct += zip(v, indices.map { data.targets[$0] }).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            }
            progress(indices.upperBound)
        }
        return correct / Double(max(1, data.count))
    }

    /// Named state of the run: the network's parameters and buffers, and the raw widths.
    public var state: [(name: String, tensor: Tensor)] {
        network.stateDictionary.map { ("network.\($0.name)", $0.tensor) } + [("augmentation.raw_widths", augmentation.rawWidths)]
            + (photometric.map { [("augmentation.photometric_raw_widths", $0.rawWidths)] } ?? [])
            + (augmentation.symmetry.map { [("augmentation.symmetry_raw_logits", $0.rawLogits)] } ?? [])
    }

    /// Everything needed to continue after the current epoch; `history` travels in the metadata.
    public func checkpoint() -> TrainingCheckpoint {
        let historyJSON = (try? JSONEncoder().encode(history)).flatMap { String(data: $0, encoding: .utf8) } ?? "[]"
        return TrainingCheckpoint(state: state, optimizer: optimizer, epoch: epoch, step: step, random: random,
                                  metadata: ["history": historyJSON])
    }

    /// Continues from a checkpoint taken by `checkpoint()` of a trainer with the same settings.
    /// - Throws: `NNError` naming what does not match.
    public func restore(_ checkpoint: TrainingCheckpoint, source: String) throws {
        try checkpoint.restore(into: state, optimizer: optimizer, source: source)
        (epoch, step, random) = (checkpoint.epoch, checkpoint.step, checkpoint.random)
        guard let text = checkpoint.metadata["history"], let decoded = try? JSONDecoder().decode([EpochRecord].self, from: Data(text.utf8)) else {
            throw NNError.invalidCheckpoint(file: source, rule: "metadata \"user.history\" is missing or not a list of epochs")
        }
        history = decoded
    }
}
