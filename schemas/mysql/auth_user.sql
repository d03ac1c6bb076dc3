-- auth_user: final state after Django's own django.contrib.auth migrations 0001..0012
-- (django/contrib/auth/migrations in django/django; edX does not change this table).
-- See README.md in this folder for where each line comes from.
--
-- No foreign keys; create it before the tables whose foreign keys reference it
-- (student_anonymoususerid, user_api_usercoursetag,
-- split_modulestore_django_historicalsplitmodulestorecourseindex).

CREATE TABLE IF NOT EXISTS `auth_user` (
  -- 0001_initial CreateModel User (AbstractUser), in its field order
  `id` int NOT NULL AUTO_INCREMENT,            -- AutoField (Django's implicit id; auth's default_auto_field stays AutoField)
  `password` varchar(128) NOT NULL,            -- CharField(max_length=128)
  -- 0001 NOT NULL; 0005_alter_user_last_login_null made it NULL-able
  `last_login` datetime(6) DEFAULT NULL,
  `is_superuser` tinyint(1) NOT NULL,          -- BooleanField(default=False), default is Python-side only
  -- 0001 max_length=30; 0008_alter_user_username_max_length -> 150
  `username` varchar(150) NOT NULL,            -- CharField(max_length=150, unique=True)
  -- 0001 max_length=30; 0012_alter_user_first_name_max_length -> 150
  `first_name` varchar(150) NOT NULL,          -- CharField(blank=True)
  -- 0001 max_length=30; 0009_alter_user_last_name_max_length -> 150
  `last_name` varchar(150) NOT NULL,           -- CharField(blank=True)
  -- 0001 max_length=75; 0003_alter_user_email_max_length -> 254 (EmailField, not unique)
  `email` varchar(254) NOT NULL,
  `is_staff` tinyint(1) NOT NULL,              -- BooleanField(default=False)
  `is_active` tinyint(1) NOT NULL,             -- BooleanField(default=True)
  `date_joined` datetime(6) NOT NULL,          -- DateTimeField(default=timezone.now), Python-side default
  PRIMARY KEY (`id`),
  -- unique=True on username (0001), emitted inline, so MySQL/MariaDB name it after the column
  UNIQUE KEY `username` (`username`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
