import Foundation
import NN

/// Each image's pose within its group, found by aligning the group's images to one another:
/// least-squares congealing (Learned-Miller, "Data driven image models through continuous
/// joint alignment", 2006; Cox et al., "Least squares congealing", 2008). Every image gets
/// coordinates ε (one per generator); the group's template is the mean of its images warped by
/// their ε, and gradient descent moves each ε to bring its image nearer the template, coarse
/// to fine (the images blurred, then less). The group's ε are kept centred, so the template
/// cannot drift. An image planted at pose p needs ε ≈ −p to meet the others, so the spread of
/// ε within a group is the spread of the poses in it.
public struct PoseAlignment {
    /// Generators whose coordinates move (the others stay 0).
    public var estimated: Set<AffineGenerator>
    /// Gaussian blur per level, standard deviation in pixels, coarse to fine.
    public var blurs: [Float] = [2, 1, 0.5]
    /// Steps per level (`NormalisedStep`, cosine schedule to 0 within each): 50 converge on
    /// MNIST (measured with the first optimiser, Adam: 100 read the same within 3%).
    public var stepsPerLevel = 50
    public var learningRate: Float = 0.03

    /// Turns tried per image between the two passes, as a step around the whole circle (0: one
    /// pass, no search). A gradient from the class's mean turns a digit back by some 40° at
    /// most; a planted ±60° read −27% short without the search (docs/performance.md).
    public var turnStep: Float = 15 * .pi / 180
    /// A turn found by the search is taken only when it brings the image nearer its template by
    /// more than this fraction of its squared distance (a slanted digit nearly as near turned
    /// keeps its slant). In a search against a template not turning is one of the nearly-as-near
    /// turns (`nearlyAsNear`), so in effect a turn there must bring the image nearer by more than
    /// 1 − 1/1.25 = 20%.
    public var turnMargin: Float = 0.1
    /// In every search against a template (`searchTurns`; in the turn to a round class's exemplar,
    /// only where the exemplar is nearly itself turned half a turn), the turns (not turning among
    /// them) that bring an image within this fraction of the nearest are as good as it, and the
    /// smallest of them is taken: a garment nearly the same turned half a turn (trousers, a bag)
    /// is not sent half a turn away, and one that a turn brings only a little nearer its blurred
    /// template stays upright. For classes
    /// spread over the whole circle, Fashion-MNIST turned within ±60° read +41% with none, +23%
    /// with 0.1, +10% with 0.25 (session 12); in the search of every other class, upright shirts
    /// went to −30° and ±45° with none (a turn 10% nearer a blend of sleeves), their turn's 90th
    /// percentile 19° and 47°, 4° and 6° with 0.25 (session 44, docs/performance.md).
    public var nearlyAsNear: Float = 0.25
    /// A group fewer of whose images than this meet their nearest fellow within 30° of upright
    /// (`synchronisedTurns`) is turned: Fashion-MNIST's classes upright 0.80–1.00, turned within
    /// ±60° 0.33–0.62; MNIST's digits upright 0.75–1.00, moved alike to two poses 0.73–1.00
    /// (docs/performance.md, sessions 31 and 43).
    public var uprightNeighbours: Float = 0.65

    public init(estimated: Set<AffineGenerator>) { self.estimated = estimated }

    /// The templates of each level, by group: [levels][group] image planes.
    public struct Templates {
        var levels: [[Int: [Float]]]
        /// Groups whose images were found spread over the whole circle (`roundTemplates`).
        var round: Set<Int> = []
        /// Of those, the groups whose exemplar is nearly itself turned half a turn
        /// (`turnToExemplars`): their poses tell a turn only up to half a turn.
        var halfTurn: Set<Int> = []
        /// Groups whose turns the first alignment started from their nearest fellows'
        /// (`synchronisedTurns`): aligned to given templates, their images have their turn
        /// searched before the first descent.
        var synchronised: Set<Int> = []
    }

    /// Gradient steps `align` takes.
    public var steps: Int { (searchesTurns ? 2 : 1) * blurs.count * stepsPerLevel }
    var searchesTurns: Bool { estimated.contains(.rotation) && turnStep > 0 }

    /// Aligns `images` [N, C, H, W] (background subtracted: 0 is background) within `groups`.
    /// With `templates` nil the templates are the current means (congealing), and are returned;
    /// otherwise each image is aligned to its group's given template. When rotation is
    /// estimated, the descent runs twice: after the first, each image's turn is searched around
    /// the circle against the coarsest templates (`searchTurns`), and the second starts there.
    /// A group whose template came out round after the first (`roundTemplates`: its images
    /// spread over the whole circle) starts the second from 0, its images turned to one of
    /// their own (`turnToExemplars`); aligned to given templates, such a group's images have
    /// their turn searched before the first descent. A group whose images do not mostly meet
    /// their nearest fellow upright starts the first descent from the turns its fellows give
    /// (`synchronisedTurns`), when those lie within part of the circle, and is then not taken
    /// for round; aligned to given templates, its images too have their turn searched first.
    /// `progress` hears each step; what it throws stops the alignment.
    public func align(_ images: [Float], channels: Int, height: Int, width: Int, groups: [Int], templates given: Templates? = nil,
                      progress: () throws -> Void = {}) rethrows -> (epsilon: [[Float]], templates: Templates) {
        let n = groups.count
        // The optimiser moves η = ε·displacement: a step of the same size moves the image's
        // points as far for every generator (a translation's ε moves them 0.12 as far as a turn's).
        let mask = Tensor(shape: [1, 6], values: AffineGenerator.allCases.map { estimated.contains($0) ? 1 / $0.displacement : 0 })
        let eta = Tensor(shape: [n, 6], repeating: 0, requiresGradient: true)
        let members = Dictionary(grouping: 0..<n) { groups[$0] }
        let blurred = blurs.map { Tensor(shape: [n, channels, height, width], values: Self.blur(images, planes: n * channels, height: height, width: width, sigma: $0)) }
        // Every turnStep around the circle but 0 (none without the search: turnStep 0).
        let count = searchesTurns ? max(2, Int((2 * Float.pi / turnStep).rounded())) : 1
        let turns = (1..<count).map { i -> Float in let t = Float(i) * 2 * .pi / Float(count); return t > .pi ? t - 2 * .pi : t }
        var round = given?.round ?? [], halfTurn = given?.halfTurn ?? [], synchronised = given?.synchronised ?? []
        if searchesTurns, let given, !round.isEmpty, !blurred.isEmpty {
            // A class found spread over the whole circle: every image's turn is searched against
            // its (sharp) template before any step, since from 0 a gradient turns it some 40° at most.
            Self.searchTurns(blurred[0], eta: eta, mask: mask, groups: groups, templates: given.levels[0].filter { round.contains($0.key) },
                             turns: turns, margin: turnMargin, nearlyAsNear: nearlyAsNear)
        }
        if searchesTurns, let given, !synchronised.isEmpty, !blurred.isEmpty {
            // A turned class whose template the fellows' turns sharpened: the same search, the
            // smallest of the nearly-as-near turns (a planted turn is nearer 0 than its half-turn
            // twin: a dress turned 30° is not sent 150° the other way).
            Self.searchTurns(blurred[0], eta: eta, mask: mask, groups: groups, templates: given.levels[0].filter { synchronised.contains($0.key) },
                             turns: turns, margin: turnMargin, nearlyAsNear: nearlyAsNear)
        }
        if searchesTurns, given == nil {
            // A class turned within part of the circle has a template blurred by its turns, which
            // neither the gradient (some 40° at most) nor the search (no turn brings an image 10%
            // nearer a blur) undoes on garments like pullovers and bags: each image starts from
            // the turn its nearest fellows put it at.
            let fellows = Self.synchronisedTurns(Tensor(shape: [n, channels, height, width], values: images), members: members, turns: Self.neighbourTurns)
            let p = eta.storage.pointer
            for (g, reading) in fellows where reading.upright < uprightNeighbours && reading.concentration >= Self.concentratedTurns {
                synchronised.insert(g)
                for (i, turn) in zip(members[g]!, reading.turns) { p[i * 6 + AffineGenerator.rotation.index] = turn * AffineGenerator.rotation.displacement }
            }
        }
        var levels = try descend(blurred, eta: eta, mask: mask, groups: groups, members: members, given: given?.levels, progress: progress)
        if searchesTurns, !blurred.isEmpty {
            if given == nil {
                // A class spread over the whole circle has a round mean, which no turn brings an
                // image nearer: its images start again from 0, each turned to one of their own.
                // A group its fellows' turns put within part of the circle is not round, though its
                // template may look so (a pullover turned a quarter turn is nearly a pullover).
                round = Self.roundTemplates(blurred[0], eta: eta, mask: mask, members: members, templates: levels[0],
                                            uprightNeighbours: uprightNeighbours).subtracting(synchronised)
                let p = eta.storage.pointer
                for g in round { for i in members[g]! { for k in 0..<6 { p[i * 6 + k] = 0 } } }
                halfTurn = Self.turnToExemplars(blurred[0], eta: eta, mask: mask, members: members.filter { round.contains($0.key) }, turns: turns,
                                                margin: turnMargin, nearlyAsNear: nearlyAsNear)
            }
            Self.searchTurns(blurred[0], eta: eta, mask: mask, groups: groups, templates: levels[0].filter { !round.contains($0.key) }, turns: turns,
                             margin: turnMargin, nearlyAsNear: nearlyAsNear)
            if given == nil { Self.centre(eta, members: members) }
            levels = try descend(blurred, eta: eta, mask: mask, groups: groups, members: members, given: given?.levels, progress: progress)
        }
        let values = TensorContext.withoutGradients { (eta * mask).values }
        let result = (0..<n).map { i in Array(values[(i * 6)..<(i * 6 + 6)]) }
        return (result, Templates(levels: levels, round: round, halfTurn: halfTurn, synchronised: synchronised))
    }

    /// Gradient descent of `eta` through every level, coarse to fine; the templates of each level.
    private func descend(_ blurred: [Tensor], eta: Tensor, mask: Tensor, groups: [Int], members: [Int: [Int]], given: [[Int: [Float]]]?,
                         progress: () throws -> Void) rethrows -> [[Int: [Float]]] {
        let n = groups.count, plane = blurred[0].count / max(1, n)
        var step = NormalisedStep(count: n)
        var levels: [[Int: [Float]]] = []
        for level in blurred.indices {
            var templates: [Int: [Float]] = given?[level] ?? [:]
            for iteration in 0..<stepsPerLevel {
                let rate = learningRate * 0.5 * (1 + cos(Float.pi * Float(iteration) / Float(stepsPerLevel)))
                let aligned = Tensor.affineWarp(blurred[level], theta: AffineAugmentation.transforms(epsilon: eta * mask))
                if given == nil {
                    let values = aligned.values
                    for (g, indices) in members {
                        var sum = [Float](repeating: 0, count: plane)
                        for i in indices { for k in 0..<plane { sum[k] += values[i * plane + k] } }
                        templates[g] = sum.map { $0 / Float(indices.count) }
                    }
                }
                let target = Tensor(shape: blurred[level].shape, values: groups.flatMap { templates[$0]! })
                let difference = aligned - target
                let loss = (difference * difference).sum().scaled(by: 1 / Float(n))
                eta.zeroGradient()
                loss.backward()
                step.apply(to: eta, rate: rate)
                if given == nil { Self.centre(eta, members: members) }
                try progress()
            }
            levels.append(templates)
        }
        return levels
    }

    /// Adds to each image's turn the one of `turns` that brings it nearest its group's template,
    /// when that is nearer than where it stands by more than `margin` (a fraction of its squared
    /// distance there); with `nearlyAsNear` > 0, the smallest turn within that fraction of the
    /// nearest. An image whose group has no template in `templates` stays. Returns how many
    /// images turned.
    @discardableResult
    static func searchTurns(_ images: Tensor, eta: Tensor, mask: Tensor, groups: [Int], templates: [Int: [Float]], turns: [Float], margin: Float,
                            nearlyAsNear: Float) -> Int {
        let n = groups.count, plane = images.count / max(1, n)
        let rotation = AffineGenerator.rotation.index, perRadian = AffineGenerator.rotation.displacement
        let present = TensorContext.withoutGradients { eta.values }
        func distances(turn: Float) -> [Float] {
            let values = warped(images, eta: present, mask: mask, turn: turn)
            return (0..<n).map { i in
                guard let template = templates[groups[i]] else { return 0 }
                var sum: Float = 0
                for k in 0..<plane { let d = values[i * plane + k] - template[k]; sum += d * d }
                return sum
            }
        }
        let standing = distances(turn: 0)
        let all = turns.map { distances(turn: $0) }
        let p = eta.storage.pointer
        var turned = 0
        for i in 0..<n {
            guard let turn = chosenTurn([standing[i]] + all.map { $0[i] }, turns: turns, margin: margin, nearlyAsNear: nearlyAsNear) else { continue }
            p[i * 6 + rotation] += turn * perRadian
            turned += 1
        }
        return turned
    }

    /// The turn an image takes, from its squared distances to its template not turned (index 0)
    /// and turned by each of `turns` (index t: `turns[t − 1]`): the nearest (the first of equals,
    /// not turning first); with `nearlyAsNear` > 0, the smallest turn within that fraction of
    /// the nearest (the nearest itself among equally small ones: a shape nearly the same turned half a
    /// turn is not sent half a turn away); taken only when it is nearer than not turning by more
    /// than `margin` of that distance. Nil: no turn.
    static func chosenTurn(_ distances: [Float], turns: [Float], margin: Float, nearlyAsNear: Float) -> Float? {
        var best = 0
        for t in distances.indices where distances[t] < distances[best] { best = t }
        if nearlyAsNear > 0 {
            let limit = (1 + nearlyAsNear) * distances[best], nearest = best
            let size = { (t: Int) -> Float in t == 0 ? 0 : abs(turns[t - 1]) }
            for t in distances.indices where distances[t] <= limit && (size(t) < size(best) || (size(t) == size(best) && t == nearest)) { best = t }
        }
        guard best > 0, distances[best] < (1 - margin) * distances[0] else { return nil }
        return turns[best - 1]
    }

    /// `images` warped by coordinates `eta` ([N·6] values) with `turn` added to each rotation.
    static func warped(_ images: Tensor, eta: [Float], mask: Tensor, turn: Float = 0) -> [Float] {
        let n = eta.count / 6
        var moved = eta
        if turn != 0 { for i in 0..<n { moved[i * 6 + AffineGenerator.rotation.index] += turn * AffineGenerator.rotation.displacement } }
        return TensorContext.withoutGradients {
            Tensor.affineWarp(images, theta: AffineAugmentation.transforms(epsilon: Tensor(shape: [n, 6], values: moved) * mask)).values
        }
    }

    /// The groups whose template is round where their images are not: a quarter turn changes
    /// the template by less than `roundness` of what it changes an image, on average, and an
    /// image by at least 0.15 of its square (the images of a class spread over the whole circle
    /// average to a disc; those of an upright class to a shape much like theirs). Measured
    /// after the first descent: T shapes over the whole circle 0.07 (template 0.03, images
    /// 0.42), within ±30° 0.96; MNIST's own classes 0.45–0.96, within ±60° 0.15–0.61, over the
    /// whole circle 0.01–0.11 (its 0s' images change by 0.18); round spots 3 px apart 0.11
    /// (images 0.10). 0.5 took MNIST's 4s and 9s (0.37–0.48), whose turn then read 20–48% wide.
    ///
    /// Or (its images changing by at least 0.15 all the same) the mean of its images as they
    /// are, before any alignment, is round: a quarter turn changes it by less than
    /// `stillRoundness` of what it changes them: a class spread over the whole
    /// circle averages to a disc whatever the descent makes of it. A stroke that repeats after a
    /// half turn (MNIST's 1s) congeals part of the way, into a cross, and once measured 0.30
    /// after the descent (rotated MNIST then read ±150°). Measured as they are (two seeds of
    /// the benchmark's rotation, shift, shear and control cases, 24 readings): classes over the
    /// whole circle 0.003–0.072 (those 1s 0.072); every class the first test did not find round
    /// 0.104 and up (MNIST's 4s shifted within ±4 px: their mean is a smear). Without the floor
    /// on the aligned images' change, Fashion-MNIST's pullovers turned ±60° (0.12) were taken.
    ///
    /// Either way, a class whose images mostly meet their nearest fellow nearly upright
    /// (`uprightNeighbours`) is not spread round: its mean is a blend of forms that happens to be
    /// round (MNIST's every digit squashed by ×1.21, its template 0.17–0.18 and its mean 0.09–0.10).
    static func roundTemplates(_ images: Tensor, eta: Tensor, mask: Tensor, members: [Int: [Int]], templates: [Int: [Float]],
                               roundness: Float = 0.3, stillRoundness: Float = 0.085, uprightNeighbours: Float = 0.65) -> Set<Int> {
        let n = members.values.reduce(0) { $0 + $1.count }, plane = images.count / max(1, n)
        let present = TensorContext.withoutGradients { eta.values }
        let aligned = warped(images, eta: present, mask: mask)
        let quarter = warped(images, eta: present, mask: mask, turn: .pi / 2)
        let still = TensorContext.withoutGradients { images.values }
        let stillQuarter = warped(images, eta: [Float](repeating: 0, count: n * 6), mask: mask, turn: .pi / 2)
        func change(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
            var (difference, size): (Float, Float) = (0, 0)
            for (x, y) in zip(a, b) { difference += (x - y) * (x - y); size += x * x }
            return difference / max(size, 1e-12)
        }
        func quarterTurned(_ template: [Float]) -> [Float] {
            TensorContext.withoutGradients {
                Tensor.affineWarp(Tensor(shape: [1] + Array(images.shape.dropFirst()), values: template),
                                  theta: AffineAugmentation.transforms(epsilon: Tensor(shape: [1, 6], values: [0, 0, .pi / 2, 0, 0, 0]))).values
            }
        }
        // The mean change a quarter turn makes to the images of `indices` (`from`, turned in `to`).
        func imagesChange(_ indices: [Int], from: [Float], to: [Float]) -> Float {
            indices.reduce(Float(0)) { $0 + change(from[($1 * plane)..<($1 * plane + plane)], to[($1 * plane)..<($1 * plane + plane)]) } / Float(indices.count)
        }
        var round: Set<Int> = []
        for (g, indices) in members {
            guard let template = templates[g], indices.count > 1 else { continue }
            // Images a quarter turn leaves nearly as they are (round spots) are no sign either way.
            let own = imagesChange(indices, from: aligned, to: quarter)
            guard own >= 0.15 else { continue }
            if change(template[...], quarterTurned(template)[...]) < roundness * own { round.insert(g); continue }
            let ownStill = imagesChange(indices, from: still, to: stillQuarter)
            var mean = [Float](repeating: 0, count: plane)
            for i in indices { for k in 0..<plane { mean[k] += still[i * plane + k] } }
            mean = mean.map { $0 / Float(indices.count) }
            if change(mean[...], quarterTurned(mean)[...]) < stillRoundness * ownStill { round.insert(g) }
        }
        guard !round.isEmpty else { return round }
        let turned = neighbourTurns.map { $0 == 0 ? still : warped(images, eta: [Float](repeating: 0, count: n * 6), mask: mask, turn: $0) }
        return round.filter { metUpright(members[$0]!, turned: turned, plane: plane) < uprightNeighbours }
    }

    /// The turns `metUpright` tries, every 15° around the circle, 0 first.
    static let neighbourTurns: [Float] = (0..<24).map { Float($0) * .pi / 12 }

    /// The fraction of `indices`' images whose nearest fellow, over every turn of
    /// `neighbourTurns` (`turned[t]`: the images turned by the t-th), meets it within 30° of
    /// upright; fellows: up to 128 of the group, evenly chosen. A class spread over the whole
    /// circle meets its neighbours at any turn: 1/6 and a little more (MNIST turned all round
    /// 0.14–0.30), one turned within ±60° about 0.44 (MNIST 0.39–0.66, Fashion-MNIST 0.34–0.63),
    /// an upright one mostly upright (MNIST's digits 0.77–1.00, each moved alike to two poses
    /// 0.73–1.00; every digit squashed alike, 0.73–0.74). Measured as they are, not aligned.
    static func metUpright(_ indices: [Int], turned: [[Float]], plane: Int) -> Float {
        let count = min(128, indices.count)
        let fellows = (0..<count).map { indices[$0 * indices.count / count] }
        let still = turned[0], turns = turned.count
        var upright = 0
        for i in indices {
            var nearest = (distance: Float.infinity, turn: 0)
            for f in fellows where f != i {
                let base = f * plane
                for t in 0..<turns {
                    var sum: Float = 0
                    turned[t].withUnsafeBufferPointer { image in
                        still.withUnsafeBufferPointer { fellow in
                            for k in 0..<plane { let d = image[i * plane + k] - fellow[base + k]; sum += d * d }
                        }
                    }
                    if sum < nearest.distance { nearest = (sum, t) }
                }
            }
            if min(nearest.turn, turns - nearest.turn) * 360 <= 30 * turns { upright += 1 }
        }
        return Float(upright) / Float(max(1, indices.count))
    }

    /// Turns each image of `members`' groups to the one of its group's images that the others
    /// meet best (over every turn; among up to 16 of them), when a turn brings it nearer that
    /// exemplar by more than `margin` of its squared distance (of the turns within
    /// `nearlyAsNear` of the nearest, the smallest, when the exemplar is nearly itself turned
    /// half a turn). Returns the groups whose exemplar is so.
    @discardableResult
    static func turnToExemplars(_ images: Tensor, eta: Tensor, mask: Tensor, members: [Int: [Int]], turns: [Float], margin: Float,
                                nearlyAsNear: Float) -> Set<Int> {
        guard !members.isEmpty else { return [] }
        let n = eta.count / 6, plane = images.count / max(1, n)
        let present = TensorContext.withoutGradients { eta.values }
        let standing = warped(images, eta: present, mask: mask)
        let candidates = members.mapValues { indices in (0..<min(16, indices.count)).map { indices[$0 * indices.count / min(16, indices.count)] } }
        // distance[t][i][c]: image i turned by turns[t] (t = 0: not turned) to candidate c of its group.
        var distance: [[[Float]]] = []
        for turn in [0] + turns {
            let values = turn == 0 ? standing : warped(images, eta: present, mask: mask, turn: turn)
            var rows = [[Float]](repeating: [], count: n)
            for (g, indices) in members {
                for i in indices {
                    rows[i] = candidates[g]!.map { c in
                        var sum: Float = 0
                        for k in 0..<plane { let d = values[i * plane + k] - standing[c * plane + k]; sum += d * d }
                        return sum
                    }
                }
            }
            distance.append(rows)
        }
        let p = eta.storage.pointer, rotation = AffineGenerator.rotation.index
        var halfTurnGroups: Set<Int> = []
        let halfTurn = turns.firstIndex { abs(abs($0) - .pi) < 1e-3 }.map { $0 + 1 }
        // Image i's squared distance to candidate c at its best turn.
        let nearest = { (i: Int, c: Int) -> Float in distance.indices.map { distance[$0][i][c] }.min()! }
        for (g, indices) in members {
            let choices = candidates[g]!
            let cost = choices.indices.map { c in indices.reduce(Float(0)) { total, i in total + nearest(i, c) } }
            let exemplar = cost.indices.min { cost[$0] < cost[$1] }!
            // The smallest of the nearly-as-near turns only for an exemplar that is nearly
            // itself turned half a turn (trousers, a bag: nearer itself so turned than the
            // group's images are to it at their best turn). For any other shape the
            // preference folds a class spread over the whole circle into ±90° (MNIST's 4s, 5s
            // and 8s read so with it), and the nearest turn is the answer.
            let own = choices[exemplar]
            let typical = indices.filter { $0 != own }.map { nearest($0, exemplar) }.sorted()
            let selfSimilar = halfTurn.map { t in !typical.isEmpty && distance[t][own][exemplar] < typical[typical.count / 2] } ?? true
            if selfSimilar { halfTurnGroups.insert(g) }
            for i in indices {
                guard let turn = chosenTurn(distance.map { $0[i][exemplar] }, turns: turns, margin: margin,
                                            nearlyAsNear: selfSimilar ? nearlyAsNear : 0) else { continue }
                p[i * 6 + rotation] += turn * AffineGenerator.rotation.displacement
            }
        }
        return halfTurnGroups
    }

    /// The fellows' turns are used when their mean resultant length (debiased,
    /// `SpreadEstimator.meanResultantLength`) is at least this: spread no wider than about ±109°
    /// (uniform ±60° has 0.83). Below it the fellows disagree (Fashion-MNIST's dresses and shirts
    /// turned ±60°, 0.20–0.43: a long garment meets its fellows as well turned half a turn), or
    /// the class is spread over the whole circle, which `roundTemplates` then finds as before.
    static let concentratedTurns = 0.5

    /// What `synchronisedTurns` finds in one group.
    struct FellowTurns {
        /// Each member's turn (radians, the alignment's ε: the member turned by it meets the
        /// others), in the group's member order, centred on their circular mean.
        var turns: [Float]
        /// The fraction of members whose nearest fellow meets them within 30° of upright.
        var upright: Float
        /// The turns' mean resultant length, debiased.
        var concentration: Double
    }

    /// Each image's turn within its group from its nearest fellows, with no template: for each
    /// image and each of up to 128 of its group (evenly chosen), the one of `turns` (0 first)
    /// that brings the image nearest the fellow; its `neighbours` nearest fellows give relative
    /// turns r_ij = ε_i − ε_j (image i turned by r_ij meets fellow j), and the turns ε are the
    /// phases of the leading eigenvector of the Hermitian matrix H_ij = e^(i·r_ij), H_ji its
    /// conjugate (angular synchronisation: Singer, "Angular synchronization by eigenvectors and
    /// semidefinite programming", 2011), which a few wrong pairs do not move much. Groups of
    /// fewer than three images are left out.
    static func synchronisedTurns(_ images: Tensor, members: [Int: [Int]], turns: [Float], neighbours: Int = 10) -> [Int: FellowTurns] {
        let n = members.values.reduce(0) { $0 + $1.count }, plane = images.count / max(1, n)
        let still = TensorContext.withoutGradients { images.values }
        let zero = [Float](repeating: 0, count: n * 6), unit = Tensor(shape: [1, 6], values: [Float](repeating: 1, count: 6))
        let turned = turns.map { $0 == 0 ? still : warped(images, eta: zero, mask: unit, turn: $0) }
        var result: [Int: FellowTurns] = [:]
        for (g, indices) in members where indices.count > 2 {
            let m = indices.count, count = min(128, m)
            let fellows = (0..<count).map { $0 * m / count }   // positions in `indices`
            // nearest[a][f]: (squared distance, turn index) of member a turned to meet fellow f.
            var distance = [Float](repeating: .infinity, count: m * count), turn = [Int](repeating: 0, count: m * count)
            for t in turns.indices {
                turned[t].withUnsafeBufferPointer { image in
                    still.withUnsafeBufferPointer { fellow in
                        for a in 0..<m {
                            for (f, b) in fellows.enumerated() where b != a {
                                let (x, y) = (image.baseAddress! + indices[a] * plane, fellow.baseAddress! + indices[b] * plane)
                                var sum: Float = 0
                                for k in 0..<plane { let d = x[k] - y[k]; sum += d * d }
                                if sum < distance[a * count + f] { distance[a * count + f] = sum; turn[a * count + f] = t }
                            }
                        }
                    }
                }
            }
            // H as a dense m×m complex matrix: each member's nearest fellows, both ways.
            var real = [Double](repeating: 0, count: m * m), imaginary = real
            var upright = 0
            for a in 0..<m {
                let order = (0..<count).filter { fellows[$0] != a }.sorted { distance[a * count + $0] < distance[a * count + $1] }
                if let first = order.first, abs(atan2(sin(turns[turn[a * count + first]]), cos(turns[turn[a * count + first]]))) <= .pi / 6 + 1e-4 {
                    upright += 1
                }
                for f in order.prefix(neighbours) {
                    let (b, r) = (fellows[f], Double(turns[turn[a * count + f]]))
                    real[a * m + b] += cos(r); imaginary[a * m + b] += sin(r)
                    real[b * m + a] += cos(r); imaginary[b * m + a] -= sin(r)
                }
            }
            let phases = leadingPhases(real: real, imaginary: imaginary, size: m)
            result[g] = FellowTurns(turns: phases, upright: Float(upright) / Float(m),
                                    concentration: SpreadEstimator.meanResultantLength(phases, groups: phases.map { _ in 0 }))
        }
        return result
    }

    /// The phases of the leading eigenvector of the Hermitian `size`×`size` matrix (row-major
    /// real and imaginary parts), centred on their circular mean: power iteration on H + d·I, d
    /// the largest row sum of |H|, which makes every eigenvalue non-negative so that the top one
    /// leads.
    static func leadingPhases(real: [Double], imaginary: [Double], size m: Int, iterations: Int = 300) -> [Float] {
        var shift = 0.0
        for a in 0..<m {
            var row = 0.0
            for b in 0..<m { row += (real[a * m + b] * real[a * m + b] + imaginary[a * m + b] * imaginary[a * m + b]).squareRoot() }
            shift = max(shift, row)
        }
        // A start with a component along every eigenvector (not all equal: H·1 may vanish).
        var vr = (0..<m).map { Double($0 % 7) + 1 }, vi = [Double](repeating: 0.5, count: m)
        for _ in 0..<iterations {
            var wr = vr.map { $0 * shift }, wi = vi.map { $0 * shift }
            for a in 0..<m {
                for b in 0..<m {
                    let (x, y) = (real[a * m + b], imaginary[a * m + b])
                    guard x != 0 || y != 0 else { continue }
                    wr[a] += x * vr[b] - y * vi[b]
                    wi[a] += x * vi[b] + y * vr[b]
                }
            }
            var norm = 0.0
            for a in 0..<m { norm += wr[a] * wr[a] + wi[a] * wi[a] }
            norm = max(norm.squareRoot(), 1e-300)
            vr = wr.map { $0 / norm }
            vi = wi.map { $0 / norm }
        }
        var (cr, ci) = (0.0, 0.0)
        for a in 0..<m {
            let size = max(1e-300, (vr[a] * vr[a] + vi[a] * vi[a]).squareRoot())
            cr += vr[a] / size
            ci += vi[a] / size
        }
        let centre = atan2(ci, cr)
        return (0..<m).map { a in let phase = atan2(vi[a], vr[a]) - centre; return Float(atan2(sin(phase), cos(phase))) }
    }

    /// Subtracts each group's mean coordinates, so the group's common pose stays where it is.
    static func centre(_ coordinates: Tensor, members: [Int: [Int]]) {
        let p = coordinates.storage.pointer
        for indices in members.values {
            for k in 0..<6 {
                let mean = indices.reduce(Float(0)) { $0 + p[$1 * 6 + k] } / Float(indices.count)
                for i in indices { p[i * 6 + k] -= mean }
            }
        }
    }

    /// Separable Gaussian blur of `planes` planes (what lies outside counts as 0, the background).
    static func blur(_ images: [Float], planes: Int, height: Int, width: Int, sigma: Float) -> [Float] {
        guard sigma > 0 else { return images }
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { exp(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var rows = [Float](repeating: 0, count: images.count), out = rows
        for p in 0..<planes {
            let base = p * height * width
            for y in 0..<height { for x in 0..<width {
                var s: Float = 0
                for (t, w) in kernel.enumerated() { let xx = x + t - radius; if xx >= 0 && xx < width { s += w * images[base + y * width + xx] } }
                rows[base + y * width + x] = s
            } }
            for y in 0..<height { for x in 0..<width {
                var s: Float = 0
                for (t, w) in kernel.enumerated() { let yy = y + t - radius; if yy >= 0 && yy < height { s += w * rows[base + yy * width + x] } }
                out[base + y * width + x] = s
            } }
        }
        return out
    }
}

/// The alignment's optimiser: momentum, every step divided by one root mean square of all the
/// gradients (the coordinates are in units of how far they move the image's points, so one
/// scale fits them all). Not per coordinate, as Adam would: an image that a generator leaves
/// unchanged (a round spot under rotation) has a gradient of pure noise there, and a per-image
/// or per-generator normalisation makes that noise a full step, and the pose wanders.
struct NormalisedStep {
    var momentum: [Float], meanSquare: Float = 0, steps = 0

    init(count: Int) { momentum = [Float](repeating: 0, count: count * 6) }

    mutating func apply(to coordinates: Tensor, rate: Float) {
        guard let gradient = coordinates.gradient?.pointer else { return }
        let n = momentum.count / 6, p = coordinates.storage.pointer
        steps += 1
        var square: Float = 0
        for i in 0..<(n * 6) { square += gradient[i] * gradient[i] }
        meanSquare = 0.99 * meanSquare + 0.01 * square / Float(max(1, n * 6))
        let scale = rate / ((meanSquare / (1 - pow(0.99, Float(steps)))).squareRoot() + 1e-12)
        for i in 0..<(n * 6) {
            momentum[i] = 0.9 * momentum[i] + 0.1 * gradient[i]
            p[i] -= scale * momentum[i]
        }
    }
}
