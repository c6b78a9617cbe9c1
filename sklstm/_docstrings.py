"""Shared docstring text of the estimators: parameters, attributes, notes."""

import inspect

_COMMON_PARAMETERS_DOC = """
    hidden_layer_sizes : int or array-like of int, default=(32,)
        Units of each stacked LSTM layer, bottom first. Every layer but the last
        returns its whole output sequence to the next one (Keras'
        ``return_sequences=True``); the last one passes its state at the final
        time step to the dense output layer.

    solver : {"adam", "rmsprop", "sgd", "lbfgs"}, default="adam"
        Optimizer. "rmsprop" is Keras' RMSprop (uses ``rho`` and ``epsilon``),
        "adam" and "sgd" are scikit-learn's MLP minibatch ones, "lbfgs" is
        full-batch L-BFGS (scipy's L-BFGS-B): deterministic, with no learning
        rate or batch size to choose, for small data sets (whether it or adam
        generalises better depends on the data).

    alpha : float, default=<alpha>
        L2 penalty on the input, recurrent and output kernels (not the biases),
        scaled as in scikit-learn's MLP: ``alpha / (2 * batch)`` times the squared
        norm is added to each minibatch's mean loss. The classifier's default is
        MLP's 0.0001; the regressor's is 0.3, because on small real regression
        data sets a network fits the noise of its targets long before it stops
        (measured on the real-data benchmark: :doc:`/benchmarks`).

    batch_size : int or "auto", default="auto"
        Sequences per minibatch. "auto" is ``n_samples // 8`` (8 steps an
        epoch) between 8 and Keras' 32, then 32 up to 1,649 samples, then
        ``n_samples // 50`` (50 steps an epoch) up to MLP's 200, so that small
        data sets get enough optimizer steps per epoch and large ones the speed
        of larger minibatches. Larger values are clipped to the number of
        samples.

    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Learning-rate schedule of the minibatch solvers. "adaptive" (any of
        them) divides the rate by 5 each time training has not improved by
        ``tol`` for ``n_iter_no_change`` epochs in a row, instead of stopping
        (Keras' ``ReduceLROnPlateau`` with ``factor=0.2``, MLP's rule), and
        stops once the rate falls to 1e-6; "invscaling" is ``solver="sgd"``'s
        only, as in MLP. ``learning_rate_curve_`` records the rate of each
        epoch. "lbfgs" takes "constant" only.

    learning_rate_init : float, default=0.001
        Initial step size.

    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.

    max_iter : int, default=200
        Maximum number of epochs (passes over the training data); for "lbfgs",
        of L-BFGS iterations. Reaching it keeps the weights of the best epoch
        (see ``best_iter_``; their moving average with ``ema_momentum``), with a
        ``ConvergenceWarning``.

    shuffle : bool, default=True
        Whether to shuffle the samples at each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling, dropout and the
        early-stopping split.
        With an int and a fixed number of BLAS threads, fits are reproducible.

    tol : float, default=1e-4
        Relative tolerance of the stopping rule: an epoch counts as an
        improvement when the monitored quantity (the training loss, or with
        ``early_stopping`` the validation loss or score) improves on its best by
        at least ``tol`` times the best's magnitude; for a loss, ``tol`` times
        ``max(best, 1)``, absolute below 1 as MLP's. The losses are on a fixed
        scale (cross-entropy; regression targets are standardised), so the rule
        does not depend on the targets' units. For "lbfgs", the tolerance on the
        projected gradient (``gtol``).

    verbose : int, default=0
        1 prints one line per epoch (loss, validation score, time); 2 and more
        also report about ten times within each epoch.

    warm_start : bool, default=False
        Start from the weights of the previous call to ``fit`` instead of new
        random ones (the optimizer starts afresh, as in MLP).

    momentum : float, default=0.9
        Momentum of "sgd".

    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with "sgd" and ``momentum > 0``.

    early_stopping : bool, default=False
        Monitor a validation set instead of the training loss: the ``X_val``,
        ``y_val`` passed to ``fit``, or else ``validation_fraction`` of the
        training data held out (stratified by class where every class can
        appear in both parts). Training stops when ``scoring`` has not improved
        for ``n_iter_no_change`` epochs and keeps the weights of the best epoch,
        the starting weights included. Minibatch solvers only.

    validation_fraction : float, default=0.1
        Share of the training data held out with ``early_stopping`` when no
        ``X_val`` is given.

    beta_1 : float, default=0.9
        Decay of Adam's first-moment estimate.

    beta_2 : float, default=0.999
        Decay of Adam's second-moment estimate.

    epsilon : float, default=1e-8
        Numerical-stability term of Adam (added to the root of the second moment,
        as in MLP) and RMSprop (added under the root, as in Keras, whose default
        is 1e-7).

    rho : float, default=0.9
        Decay of RMSprop's moving average of squared gradients.

    n_iter_no_change : int, default=50
        Training stops once more than this many epochs in a row have not improved
        by ``tol`` (MLP's 10, and 20, stopped too soon on small real data sets,
        whose losses improve in noisy steps: see :doc:`/benchmarks`).
        Epochs of a new network's initial plateau (before the monitored quantity
        has improved by 10% on its starting value) do not count, so training
        never stops before it has started to learn.

    max_grad_norm : float or None, default=None
        If set, rescale each minibatch's gradient so that its global L2 norm is at
        most this value (``clipnorm`` over all weights; PyTorch's
        ``clip_grad_norm_``). Minibatch solvers only.

    ema_momentum : float or None, default=0.9
        A ``fit`` keeps the exponential moving average of the weights at the end
        of its epochs up to its best one (the epoch ``best_iter_``, by the
        monitored quantity), rather than that epoch's weights alone: Keras'
        ``use_ema`` and PyTorch's ``AveragedModel``, an epoch at a time. The
        average decays by this much an epoch (by less in the first epochs:
        ``min(ema_momentum, (1 + t) / (10 + t))`` after epoch ``t``, as
        TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``). It
        evens out the minibatch noise of the epochs before the best, and on small
        real data sets predicts better than the best epoch (see
        :doc:`/benchmarks`). With ``early_stopping`` it is kept only if it scores
        at least as well as the best epoch on the validation data; after a
        divergence or an interruption, the best epoch's weights are kept. None
        keeps the best epoch's weights, as does an average of one epoch (the
        best is the first: a warm-started fit of one epoch). Minibatch solvers
        and ``fit`` only: ``partial_fit`` keeps each call's weights.

    max_fun : int, default=15000
        Maximum number of loss evaluations of "lbfgs".

    bidirectional : bool, default=False
        Run every LSTM layer forwards and backwards and concatenate the two
        outputs (``2 * units`` wide), as Keras' ``Bidirectional(LSTM(units))``
        with merge_mode "concat" and PyTorch's ``bidirectional=True``. The
        backward direction of a sequence starts at that sequence's own last step;
        the output layer reads the forward state at the last step and the
        backward state at the first.

    dropout : float, default=0.0
        Fraction of each LSTM layer's inputs dropped during training (Keras'
        ``dropout``): one mask per sequence and layer, the same at every time
        step, the kept inputs scaled by ``1 / (1 - dropout)``. Minibatch solvers
        only; prediction never drops anything.

    recurrent_dropout : float, default=0.0
        Fraction of the recurrent state ``h_{t-1}`` dropped before the recurrent
        kernel during training (Keras' ``recurrent_dropout``), with one mask per
        sequence for all its steps.

    scoring : str, callable or None, default="loss"
        What ``early_stopping`` monitors, as in scikit-learn's
        HistGradientBoosting: "loss", the validation loss (informative even on a
        handful of samples), or a scorer name (e.g. "accuracy", "r2") or callable
        ``scorer(estimator, X, y)``; None is the estimator's ``score``. With
        ``return_sequences=True``, "loss", None or a callable that takes per-step
        targets (scikit-learn's metrics take one target per sample).

    return_sequences : bool, default=False
        Predict at every time step instead of once per sequence (Keras'
        ``LSTM(return_sequences=True)`` followed by a ``Dense`` applied to each
        step): the output layer reads the last LSTM layer's output at each step
        (with ``bidirectional=True``, both directions' outputs at that step). y
        then holds a target per step: ``(n_samples, n_timesteps)`` (a label or a
        value per step), ``(n_samples, n_timesteps, n_outputs)`` (regressor), or
        for a list of sequences a list of per-sequence targets of the same
        lengths; ``predict`` and ``predict_proba`` answer in the same shapes. The
        loss is the mean over every step, each weighing what its sequence's
        ``sample_weight`` says (and ``class_weight`` of its own label); ``score``
        is the accuracy or R^2 over every step, weighted alike. The weights are
        the same arrays as without it.

    cell : {"lstm", "gru"}, default="lstm"
        The recurrent cell of every layer: Keras' ``LSTM``, or its ``GRU`` with
        ``reset_after=True`` (PyTorch's ``nn.GRU``), which has three gates
        instead of four, hence about a quarter less arithmetic and memory (see
        Notes for both cells' equations and weights). Every other option works
        with either cell.

    input_projection : "auto", int or None, default=None
        Width of a linear layer in front of the first recurrent layer (Keras'
        ``Dense(input_projection)`` before the first ``LSTM``, PatchTST's linear
        patch embedding), trained with the network and started as PyTorch's
        ``nn.Linear``; None: no such layer. "auto" is 128, or ``n_features_in_``
        when that is more, so that the layer never narrows the input. Nothing
        nonlinear lies between the layer and the first recurrent layer, so the
        fitted model folds it into that layer's input kernel and bias: its
        weights, predictions, streams and ONNX export are a network's without
        it. What changes is how the first layer learns: its input kernel is
        trained as a product of two matrices, which moves it faster (the wider
        the layer, the faster) and finds better models of long sequences read
        in patches (:class:`~sklstm.SequencePatcher`; ACSF1 0.66 -> 0.77,
        OSULeaf 0.62 -> 0.72 over ten seeds), but can also fit noise sooner
        where the class is a short event in noisy sequences, the more so at
        learning rates above the default (see the user guide, "Stacked,
        bidirectional, dropout, and the cells"). ``alpha`` penalises the folded
        kernel; ``dropout`` drops the projected input. ``warm_start`` and
        ``partial_fit`` go on from the trained factors; after
        :meth:`set_weights`, from an exact factorisation of the kernel set,
        which needs a layer at least ``n_features_in_`` wide.
"""

_COMMON_ATTRIBUTES_DOC = """
    loss_ : float
        Mean training loss of the epoch whose weights were kept (``best_iter_``;
        for "lbfgs", and for the moving average of ``ema_momentum``, the loss of
        the weights kept, over the whole training set).

    best_loss_ : float or None
        Lowest training loss of an epoch; None with ``early_stopping``.

    loss_curve_ : list of float
        The mean training loss of each epoch.

    learning_rate_curve_ : list of float or None
        The learning rate of each epoch, beside ``loss_curve_`` (Adam's before
        its bias correction); None for "lbfgs".

    best_iter_ : int
        The epoch of the last fit whose weights were kept, by the monitored
        quantity (0: the weights it started from). Whatever stopped training (no
        improvement, ``max_iter``, divergence, Ctrl-C), the model is that epoch's,
        or the moving average of the weights up to it (``ema_momentum``).

    validation_scores_ : list of float or None
        With ``early_stopping``, the score of each epoch of the last fit on the
        validation set (the negative validation loss with ``scoring="loss"``);
        None otherwise.

    best_validation_score_ : float or None
        The validation score of the weights kept (the starting weights'
        included); None without ``early_stopping``.

    t_ : int
        Number of training samples seen by the optimizer (summed over epochs).

    n_iter_ : int
        Number of epochs (L-BFGS iterations for "lbfgs") run by the last ``fit``.

    n_features_in_ : int
        Number of features at each time step (the last axis of X).

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features, when a 2-D X with string column names was passed.

    n_outputs_ : int
        Width of the output layer.
"""

_NOTES_DOC = """
    Each LSTM layer maps its input sequence :math:`x_t` to hidden states
    :math:`h_t` (Hochreiter & Schmidhuber, 1997, with the forget gate of Gers et
    al., 2000), starting from :math:`h_0 = c_0 = 0`:

    .. math::

        i_t &= \\sigma(x_t W_i + h_{t-1} U_i + b_i) \\\\
        f_t &= \\sigma(x_t W_f + h_{t-1} U_f + b_f) \\\\
        g_t &= \\tanh(x_t W_g + h_{t-1} U_g + b_g) \\\\
        o_t &= \\sigma(x_t W_o + h_{t-1} U_o + b_o) \\\\
        c_t &= f_t \\odot c_{t-1} + i_t \\odot g_t \\\\
        h_t &= o_t \\odot \\tanh(c_t)

    The weights are Keras' ``kernel`` :math:`[W_i W_f W_g W_o]`,
    ``recurrent_kernel`` :math:`[U_i U_f U_g U_o]` and ``bias``, initialised as
    Keras does (Glorot-uniform kernels, orthogonal recurrent kernels, zero biases
    with :math:`b_f = 1`). :meth:`get_weights` returns them in the order of
    ``keras.Sequential.get_weights()``. For PyTorch's ``nn.LSTM`` (same gate
    order), ``weight_ih_l{k} = kernel.T``, ``weight_hh_l{k} = recurrent_kernel.T``,
    ``bias_ih_l{k} = bias`` and ``bias_hh_l{k} = 0``.

    With ``cell="gru"`` each layer is Keras' ``GRU`` (Cho et al., 2014) with its
    default ``reset_after=True``, the variant of cuDNN and PyTorch: an update
    gate :math:`z`, a reset gate :math:`r` and a candidate :math:`n`, with an
    input bias :math:`b` and a recurrent bias :math:`b'`, from :math:`h_0 = 0`:

    .. math::

        z_t &= \\sigma(x_t W_z + b_z + h_{t-1} U_z + b'_z) \\\\
        r_t &= \\sigma(x_t W_r + b_r + h_{t-1} U_r + b'_r) \\\\
        n_t &= \\tanh(x_t W_n + b_n + r_t \\odot (h_{t-1} U_n + b'_n)) \\\\
        h_t &= z_t \\odot h_{t-1} + (1 - z_t) \\odot n_t

    Its weights are Keras' ``kernel`` :math:`[W_z W_r W_n]` ``(n_inputs, 3
    units)``, ``recurrent_kernel`` :math:`[U_z U_r U_n]` ``(units, 3 units)``
    and ``bias`` ``(2, 3 units)`` (:math:`b`, then :math:`b'`), all biases
    starting at zero. PyTorch's ``nn.GRU`` orders its gates r, z, n: see the
    user guide, "Coming from PyTorch", for the conversion. A GRU layer has three
    quarters of an LSTM layer's weights and arithmetic, and often learns as well
    on short and medium sequences.

    The forward pass and backpropagation through time run in Cython kernels
    (packed-weight products with AVX-512/AVX2 code paths, and BLAS); float32 input
    is trained and predicted in float32, anything else in float64. The kernels
    split each minibatch between OpenMP threads (as many as
    ``OMP_NUM_THREADS``, ``threadpoolctl`` or joblib's workers allow) and keep
    BLAS single-threaded meanwhile; results do not depend on the thread count
    beyond rounding.

    References
    ----------
    Hochreiter, S. and Schmidhuber, J. (1997). Long short-term memory. Neural
    Computation, 9(8), 1735-1780.

    Gers, F. A., Schmidhuber, J. and Cummins, F. (2000). Learning to forget:
    continual prediction with LSTM. Neural Computation, 12(10), 2451-2471.

    Cho, K., van Merrienboer, B., Gulcehre, C., Bahdanau, D., Bougares, F.,
    Schwenk, H. and Bengio, Y. (2014). Learning phrase representations using RNN
    encoder-decoder for statistical machine translation. EMNLP 2014, 1724-1734.
"""


_VALIDATION_DATA_DOC = """X_val : array-like or list of arrays, default=None
            Validation sequences for ``early_stopping`` (Keras'
            ``validation_data``), instead of a split of X. In a Pipeline, with
            metadata routing enabled, ``Pipeline(..., transform_input=["X_val"])``
            transforms them as X.

        y_val : array-like of shape (n_val,) or (n_val, n_{y_columns}), default=None
            {y_what} of ``X_val``.

        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation sequences."""


def validation_data_doc(y_columns, y_what):
    """Fill the fit docstring's validation-data parameters (shared by both)."""

    def decorate(method):
        block = _VALIDATION_DATA_DOC.format(y_columns=y_columns, y_what=y_what)
        method.__doc__ = method.__doc__.replace("{validation_data}", block)
        return method

    return decorate


def docstring(template):
    """Fill the shared parameter, attribute and notes sections of a docstring."""

    def decorate(cls):
        # Each estimator's own default where they differ.
        alpha = inspect.signature(cls).parameters["alpha"].default
        cls.__doc__ = template.format(
            parameters=_COMMON_PARAMETERS_DOC.strip("\n").replace(
                "<alpha>", repr(alpha)
            ),
            attributes=_COMMON_ATTRIBUTES_DOC.strip("\n"),
            notes=_NOTES_DOC.strip("\n"),
        )
        return cls

    return decorate
