"""The staff back-office: a French, server-rendered web application over the four services'
HTTP APIs. It keeps no programme state of its own, only staff accounts and sign-in sessions;
every page calls the services on behalf of the signed-in person, whose role and region those
services keep enforcing."""
