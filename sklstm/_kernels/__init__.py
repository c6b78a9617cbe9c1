"""Compiled kernels: numeric loops over buffers the Python side allocates.

``_layout`` defines a cell's geometry, ``_train`` the minibatch forward and
backpropagation through time, ``_predict`` the logits of a batch or one sequence,
``_parallel`` the thread team, ``_optim`` the optimizers' in-place updates and
``_array`` softmax, finiteness checks and gathering. The C that Cython cannot
express (instruction-set dispatch, the packed product, the cell's vector maths)
lives in ``src/``.
"""
