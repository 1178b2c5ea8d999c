// The ticket page: live "Actualizada por ..." banner, drafts kept (issue #15).
