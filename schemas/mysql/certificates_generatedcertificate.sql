-- certificates_generatedcertificate: final state after edX certificates migrations
-- 0001..0038 (lms/djangoapps/certificates/migrations). See README.md in this folder.
--
-- No foreign key kept: the foreign key user_id -> auth_user.id that edX has is left out
-- so that this file loads without auth_user. Any order.

CREATE TABLE IF NOT EXISTS `certificates_generatedcertificate` (
  -- 0001 CreateModel GeneratedCertificate, in its field order (which is not models.py's order)
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  `course_id` varchar(255) NOT NULL,              -- CourseKeyField(max_length=255, blank=True, default=None)
  `verify_uuid` varchar(32) NOT NULL,             -- CharField(max_length=32, blank=True, default=''); 0005 db_index=True
  `download_uuid` varchar(32) NOT NULL,           -- CharField(max_length=32, blank=True, default='')
  `download_url` varchar(128) NOT NULL,           -- CharField(max_length=128, blank=True, default='')
  `grade` varchar(5) NOT NULL,                    -- CharField(max_length=5, blank=True, default='')
  `key` varchar(32) NOT NULL,                     -- CharField(max_length=32, blank=True, default='')
  `distinction` tinyint(1) NOT NULL,              -- BooleanField(default=False)
  -- CharField(max_length=32, default='unavailable'): CertificateStatuses (downloadable, notpassing,
  -- unavailable, unverified, audit_passing, audit_notpassing, generating, error, ...)
  `status` varchar(32) NOT NULL,
  -- CharField(max_length=32, default='honor'); 0015/0017/0033/0034 only widened its choices (no SQL)
  `mode` varchar(32) NOT NULL,
  `name` varchar(255) NOT NULL,                   -- CharField(max_length=255, blank=True)
  `created_date` datetime(6) NOT NULL,            -- DateTimeField(auto_now_add=True)
  `modified_date` datetime(6) NOT NULL,           -- DateTimeField(auto_now=True)
  `error_reason` varchar(512) NOT NULL,           -- CharField(max_length=512, blank=True, default='')
  `user_id` int NOT NULL,                         -- ForeignKey(auth_user); constraint left out
  PRIMARY KEY (`id`),
  -- unique_together (user, course_id) (0001): at most one certificate per learner and course.
  -- Django's name is hashed, this one is descriptive. It exists before Django adds the
  -- (deferred) foreign key, so InnoDB uses it for user_id: there is no separate user_id index.
  UNIQUE KEY `certificates_gc_user_id_course_id_uniq` (`user_id`, `course_id`),
  -- db_index=True on verify_uuid (0005 AlterField); Django's name is hashed, this one is descriptive
  KEY `certificates_gc_verify_uuid_idx` (`verify_uuid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
