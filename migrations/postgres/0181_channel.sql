-- How a ticket reached the help desk (issue 15): `correo` (intake, the mailbox, or an
-- e-mail a dispatcher registers by hand), `telefono` or `presencial` (typed in after a call
-- or a visit). Every ticket so far came by e-mail.
ALTER TABLE tickets ADD COLUMN channel TEXT NOT NULL DEFAULT 'correo';
