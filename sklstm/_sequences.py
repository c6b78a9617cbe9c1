"""Sequences as the estimators hold them, and their packing into kernel batches.

Two layouts, one interface. A dense 3-D array holds sequences of one length; a
ragged set holds sequences of their own lengths, concatenated into one
``(total_steps, n_features)`` array with offsets (no padding is stored). Either
packs a minibatch into the kernels' time-major buffer: the ragged one sorted by
decreasing length, zero-padded, with ``batch_sizes[t]`` the number of sequences
still running at step ``t`` (PyTorch's ``PackedSequence``), so that every sequence's
state stops at its own last step.
"""

import numpy as np

from sklstm._kernels._array import gather_time_major


class DenseSequences:
    """Equal-length sequences: a C-ordered array (n_samples, n_steps, n_features)."""

    def __init__(self, X, input_ndim=3):
        self.X = X
        self.n_samples, self.max_length, self.n_features = X.shape
        self.dtype = X.dtype
        # 2 for an X of sequences of one step passed as (n_samples, n_features).
        self.input_ndim = input_ndim

    def take(self, index):
        return DenseSequences(self.X[index])

    def as_input(self):
        """The sequences as an estimator takes them (for scorers)."""
        return self.X

    def order_for_batches(self, index):
        """Indices as the kernels want them in a batch (any order will do)."""
        return index

    def pack(self, index, workspace):
        """Fill the workspace's input with sequences ``index`` (indices or a slice);
        return its packing."""
        if isinstance(index, slice) or not self.X.flags.c_contiguous:
            batch = self.X[index]
            n_batch = batch.shape[0]
            X_tm = workspace.prepare(self.max_length, n_batch)
            np.copyto(X_tm, batch.transpose(1, 0, 2))
        else:
            n_batch = len(index)
            X_tm = workspace.prepare(self.max_length, n_batch)
            gather_time_major(self.X, index.astype(np.intp, copy=False), X_tm)
        batch_sizes = np.full(self.max_length, n_batch, dtype=np.intc)
        last_step = np.full(n_batch, self.max_length - 1, dtype=np.intp)
        return X_tm, batch_sizes, last_step

    @property
    def lengths(self):
        return np.full(self.n_samples, self.max_length, dtype=np.intp)

    def readings(self):
        """``(values, offsets, lengths)``: every reading, a row each, sequence
        after sequence, with each sequence's first row and length."""
        X = np.ascontiguousarray(self.X)
        offsets = np.arange(self.n_samples, dtype=np.intp) * self.max_length
        return X.reshape(-1, self.n_features), offsets, self.lengths

    def split_steps(self, rows):
        """Per-step rows, sequence after sequence -> (n_samples, n_steps, ...)."""
        return rows.reshape(self.n_samples, self.max_length, *rows.shape[1:])


class RaggedSequences:
    """Sequences of their own lengths, concatenated along the time axis."""

    def __init__(self, values, lengths):
        self.values = values
        self.lengths = np.asarray(lengths, dtype=np.intp)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(
            np.intp
        )
        self.n_samples = len(self.lengths)
        self.max_length = int(self.lengths.max())
        self.n_features = values.shape[1]
        self.dtype = values.dtype

    def take(self, index):
        lengths = self.lengths[index]
        return RaggedSequences(
            self.values[_rows_of(self.offsets, lengths, index)], lengths
        )

    def as_input(self):
        """The sequences as an estimator takes them: a list of 2-D views."""
        return [
            self.values[start : start + length]
            for start, length in zip(self.offsets, self.lengths)
        ]

    def split_steps(self, rows):
        """Per-step rows, sequence after sequence -> a list, one array a sequence."""
        return np.split(rows, self.offsets[1:])

    def readings(self):
        """As :meth:`DenseSequences.readings`."""
        return np.ascontiguousarray(self.values), self.offsets, self.lengths

    def order_for_batches(self, index):
        """``index`` sorted by decreasing length, as the packed kernels need."""
        return index[np.argsort(-self.lengths[index], kind="stable")]

    def pack(self, index, workspace):
        """Pack sequences ``index`` (sorted by decreasing length) into the workspace."""
        lengths = self.lengths[index]
        n_steps = int(lengths[0])
        X_tm = workspace.prepare(n_steps, len(index))
        steps = np.arange(n_steps)[:, None]
        running = steps < lengths[None, :]  # (T, B): sequence b still runs at t
        X_tm[~running] = 0
        X_tm[running] = self.values[(self.offsets[index][None, :] + steps)[running]]
        batch_sizes = running.sum(axis=1).astype(np.intc)
        return X_tm, batch_sizes, lengths - 1


def step_rows(lengths, index, running):
    """Rows of sequences ``index``' steps in per-step logits' order.

    Rows number the steps of all the sequences, sequence after sequence;
    ``running`` is :func:`~sklstm._network.running_steps`' mask of the batch of
    ``index`` (None: each runs ``lengths[index[0]]`` steps). Time-major: for each
    step, the sequences that run at it.
    """
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])[index]
    n_steps = int(lengths[index[0]]) if running is None else running.shape[0]
    rows = offsets[None, :] + np.arange(n_steps)[:, None]
    return rows.ravel() if running is None else rows[running]


class StepTargets:
    """Encoded per-step targets of sequences, rows sequence after sequence.

    ``values`` is ``(total_steps, n_outputs)``; ``shares`` is each step's share
    of its sequence's weight (they sum to 1 over a sequence's steps; None for
    equal shares). A sequence's loss is the mean of its steps' losses weighted
    by their shares, and the caller weighs each sequence by the sum of its
    steps' weights: the mean loss is then the weighted mean over every step.
    Indexed like an array of sequences (``Y[index]``), as the training loop
    indexes many-to-one targets.
    """

    def __init__(self, values, lengths, shares=None):
        self.values = values
        self.lengths = np.asarray(lengths, dtype=np.intp)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(
            np.intp
        )
        self.shares = shares
        self.n_samples = len(self.lengths)
        self.n_outputs = values.shape[1]
        # Equal lengths and shares: the rows are an array (n_samples, T, n_outputs).
        self._steps = None
        if (
            shares is None
            and self.n_samples
            and (self.lengths == self.lengths[0]).all()
        ):
            self._steps = int(self.lengths[0])

    @classmethod
    def weighted(cls, values, lengths, step_weight=None):
        """Targets with steps weighted by ``step_weight`` (None: all alike).

        Returns ``(targets, sequence_weight)``: the weight each sequence gets in
        the loss, the sum of its steps' (None when the sequences are alike).
        """
        lengths = np.asarray(lengths, dtype=np.intp)
        if step_weight is None:
            if (lengths == lengths[0]).all():
                return cls(values, lengths), None
            return cls(values, lengths), lengths.astype(np.float64)
        targets = cls(values, lengths)
        totals = np.add.reduceat(step_weight, targets.offsets)
        targets = cls(
            values,
            lengths,
            step_weight / np.repeat(np.where(totals > 0, totals, 1.0), lengths),
        )
        return targets, totals

    def __len__(self):
        return self.n_samples

    def __getitem__(self, index):
        if self._steps is not None:
            values = self.values.reshape(self.n_samples, self._steps, -1)[index]
            return StepTargets(
                values.reshape(-1, self.n_outputs), np.full(len(values), self._steps)
            )
        index = np.arange(self.n_samples)[index]
        lengths = self.lengths[index]
        rows = _rows_of(self.offsets, lengths, index)
        shares = None if self.shares is None else self.shares[rows]
        return StepTargets(self.values[rows], lengths, shares)

    def row_shares(self):
        """Each step's share of its sequence's weight."""
        if self.shares is not None:
            return self.shares
        return np.repeat(1.0 / self.lengths, self.lengths)

    def packed(self, running):
        """(targets, shares) of the steps in per-step logits' order.

        Shares are None when they are equal (sequences of one length).
        """
        if self._steps is not None and running is None:
            values = self.values.reshape(self.n_samples, self._steps, -1)
            return values.transpose(1, 0, 2).reshape(-1, self.n_outputs), None
        rows = step_rows(self.lengths, np.arange(self.n_samples), running)
        return self.values[rows], self.row_shares()[rows]


def _rows_of(offsets, lengths, index):
    """Row numbers of sequences ``index``' steps, in order, without a loop."""
    ends = np.cumsum(lengths)
    if not len(ends):
        return np.zeros(0, dtype=np.intp)
    return np.arange(ends[-1]) + np.repeat(offsets[index] - ends + lengths, lengths)


def batch_slices(n_samples, batch_size):
    """Slices of ``range(n_samples)``, ``batch_size`` at a time, the last shorter.

    scikit-learn's ``gen_batches``, without its parameter validation: that
    costs more than the slicing, in every epoch and every chunked prediction.
    """
    return [
        slice(start, min(start + batch_size, n_samples))
        for start in range(0, n_samples, batch_size)
    ]


def length_sorted_batches(lengths, index, batch_size, random_state, bucket=50):
    """Minibatches of similar lengths from shuffled ``index``.

    Shuffled sequences are cut into buckets of ``bucket`` batches; each bucket is
    sorted by length and cut into batches, and the batches are shuffled. A batch
    pays for its longest member only, so grouping similar lengths saves most of the
    padding, while the buckets keep batches random from epoch to epoch.
    """
    span = batch_size * bucket
    batches = []
    for start in range(0, len(index), span):
        chunk = index[start : start + span]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = random_state.permutation(len(batches))
    return [batches[i] for i in order]
