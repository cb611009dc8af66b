"""The built-in adapter trainer: voxsift shards in, a trained adapter and metrics.json out.

Entry points: ``voxsift.trainers.loop.train(settings, shards, out, resume)`` for ``voxsift run``,
``voxsift.trainers.cli.add_train_arguments`` / ``run_train`` for ``voxsift train``, and
``voxsift.trainers.settings.TrainSettings`` for the ``train:`` section of the run config. This
package imports nothing heavy itself, so the config can import the settings without torch.
"""
