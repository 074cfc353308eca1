"""aevae: the shared code of the book "Autoencoder or VAE?".

One concern per module:

- :mod:`aevae.data` — Fashion-MNIST: find, verify (pinned SHA-256), load into memory;
- :mod:`aevae.book` — the setup call of every chapter (seed, device, style), glue, progress bars;
- :mod:`aevae.pca` — PCA by SVD, probabilistic PCA with its exact likelihood, principal angles;
- :mod:`aevae.models` — the shared encoder/decoder networks, the AE and the VAE;
- :mod:`aevae.objectives` — losses as pure functions (MSE, Gaussian KL, ELBO, IWAE);
- :mod:`aevae.train` — one training loop on in-memory tensors;
- :mod:`aevae.plotting` — image grids and latent maps.
"""

__version__ = "0.1.0"
