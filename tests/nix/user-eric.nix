# The user the seed snippets name, declared as the users' own configuration declares it.
{
  users.users.eric = {
    isNormalUser = true;
    uid = 1000;
  };
}
